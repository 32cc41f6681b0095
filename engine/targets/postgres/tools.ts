import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BackupError } from '../../errors';

export interface PgTool {
  path: string;
  major: number;
  version: string;
}

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
  tool: 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql' | 'pg_basebackup' | 'pg_ctl' | 'pg_waldump',
  minMajor: number,
  configuredDir = process.env.DBM_PG_BIN,
  /** server programs (pg_ctl) must be of the data directory's very major version */
  exact = false,
): PgTool {
  const dirs = new Set<string>();
  if (configuredDir) dirs.add(configuredDir);
  for (const d of (process.env.PATH ?? '').split(':')) if (d) dirs.add(d);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) for (const v of readdirSync(root)) dirs.add(path.join(root, v, 'bin'));
  const found: PgTool[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    const file = path.join(dir, tool);
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      continue; // not there
    }
    if (seen.has(real) || path.basename(real) === 'pg_wrapper') continue;
    seen.add(real);
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

const versions = new Map<string, { stamp: string; version: Omit<PgTool, 'path'> | null }>();

/** What `file --version` says, remembered while the file stays the same. */
function versionOf(file: string): Omit<PgTool, 'path'> | null {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return null;
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const known = versions.get(file);
  if (known?.stamp === stamp) return known.version;
  const res = spawnSync(file, ['--version'], { encoding: 'utf8' });
  const m = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(res.stdout ?? '');
  const version = res.status === 0 && m ? { major: Number(m[1]), version: m[2] ? `${m[1]}.${m[2]}` : m[1] } : null;
  versions.set(file, { stamp, version });
  return version;
}
