import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
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
  for (const dir of dirs) {
    const file = path.join(dir, tool);
    if (!existsSync(file)) continue;
    const res = spawnSync(file, ['--version'], { encoding: 'utf8' });
    const m = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(res.stdout ?? '');
    if (res.status === 0 && m) found.push({ path: file, major: Number(m[1]), version: m[2] ? `${m[1]}.${m[2]}` : m[1] });
  }
  const fitting = found.filter((t) => (exact ? t.major === minMajor : t.major >= minMajor)).sort((a, b) => b.major - a.major);
  if (fitting.length > 0) return fitting[0];
  const seen = found.length ? found.map((t) => `${t.major} at ${t.path}`).join(', ') : 'none';
  throw new BackupError(
    `no ${tool} of PostgreSQL ${minMajor}${exact ? '' : ' or newer'} found (found: ${seen}); install ${tool === 'pg_ctl' ? 'postgresql' : 'postgresql-client'}-${minMajor} or set DBM_PG_BIN`,
  );
}
