import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BackupError } from '../../errors';

export interface PgTool {
  path: string;
  major: number;
  version: string;
}

export type PgToolName = 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql' | 'pg_basebackup' | 'pg_ctl' | 'pg_waldump';

/**
 * Finds a PostgreSQL client program whose major version is at least the
 * server's (an older pg_dump refuses a newer server; an older pg_restore an
 * archive from a newer pg_dump). Looks in the configured directory, PATH and
 * /usr/lib/postgresql/N/bin, and takes the newest that fits.
 *
 * Each program is asked its version once per process (and again if it
 * changes). Debian's pg_wrapper (/usr/bin/pg_dump and the like) is passed
 * over: it is a Perl script that picks one of /usr/lib/postgresql/N/bin,
 * which are searched anyway, by rules of its own, and costs ~70 ms a start.
 */
export function findPgTool(
  tool: PgToolName,
  minMajor: number,
  configuredDir = process.env.DBM_PG_BIN,
  /** server programs (pg_ctl) must be of the data directory's very major version */
  exact = false,
): PgTool {
  const found: PgTool[] = [];
  for (const real of candidates(tool, configuredDir)) {
    const version = versionOf(real);
    if (version) found.push({ path: real, ...version });
  }
  const fitting = found.filter((t) => (exact ? t.major === minMajor : t.major >= minMajor)).sort((a, b) => b.major - a.major);
  if (fitting.length > 0) return fitting[0];
  const foundList = found.length ? found.map((t) => `${t.major} at ${t.path}`).join(', ') : 'none';
  throw new BackupError(
    `no ${tool} of PostgreSQL ${minMajor}${exact ? '' : ' or newer'} found (found: ${foundList}); install ${tool === 'pg_ctl' ? 'postgresql' : 'postgresql-client'}-${minMajor} or set DBM_PG_BIN`,
  );
}

/**
 * Asks every copy of these programs its version now, without blocking (findPgTool then knows them):
 * a backup does so while it waits on the server and the key derivation, not after (~50 ms a program
 * on the main thread, issue 15). Never fails: findPgTool reports what it cannot find.
 */
export async function warmPgTools(tools: PgToolName[], configuredDir = process.env.DBM_PG_BIN): Promise<void> {
  const files = new Set(tools.flatMap((tool) => candidates(tool, configuredDir)));
  await Promise.all([...files].map(async (file) => {
    const stamp = stampOf(file);
    if (!stamp || versions.get(file)?.stamp === stamp) return;
    const stdout = await new Promise<string | null>((resolve) => execFile(file, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS }, (err, out) => resolve(err ? null : out)));
    versions.set(file, { stamp, version: stdout === null ? null : parseVersion(stdout) });
  }));
}

/** The real paths of a program's copies: the configured directory, PATH and /usr/lib/postgresql/N/bin, Debian's wrapper passed over. */
function candidates(tool: PgToolName, configuredDir: string | undefined): string[] {
  const dirs = new Set<string>();
  if (configuredDir) dirs.add(configuredDir);
  for (const d of (process.env.PATH ?? '').split(':')) if (d) dirs.add(d);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) for (const v of readdirSync(root)) dirs.add(path.join(root, v, 'bin'));
  const seen = new Set<string>();
  for (const dir of dirs) {
    let real: string;
    try {
      real = realpathSync(path.join(dir, tool));
    } catch {
      continue; // not there
    }
    if (path.basename(real) !== 'pg_wrapper') seen.add(real);
  }
  return [...seen];
}

/** A program that does not say its version in this long is killed and passed over: a backup must not hang on one. */
const VERSION_TIMEOUT_MS = 10_000;

const versions = new Map<string, { stamp: string; version: Omit<PgTool, 'path'> | null }>();

/** A file as it is now (a program replaced is asked again), or null when it is no file. */
function stampOf(file: string): string | null {
  const st = statSync(file, { throwIfNoEntry: false });
  return st?.isFile() ? `${st.ino}:${st.size}:${st.mtimeMs}` : null;
}

function parseVersion(stdout: string): Omit<PgTool, 'path'> | null {
  const m = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(stdout);
  return m ? { major: Number(m[1]), version: m[2] ? `${m[1]}.${m[2]}` : m[1] } : null;
}

/** What `file --version` says, remembered while the file stays the same. */
function versionOf(file: string): Omit<PgTool, 'path'> | null {
  const stamp = stampOf(file);
  if (!stamp) return null;
  const known = versions.get(file);
  if (known?.stamp === stamp) return known.version;
  const res = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS });
  const version = res.status === 0 ? parseVersion(res.stdout ?? '') : null;
  versions.set(file, { stamp, version });
  return version;
}
