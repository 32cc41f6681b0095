import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';

/** What the PostgreSQL archive benchmarks share: a work folder with a repository, a cp archive and a spool. */
export const AS_ROOT = process.getuid?.() === 0;
export const CLI = path.join(__dirname, '..', 'cli', 'main.js');

export async function sql<T>(url: string, text: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

/** A fresh work folder (the postgres user's when we are root) with an initialised repository; `cli` builds a `repo` command line for it. */
export function archiveWorkspace(work: string): { repoDir: string; config: string; cpDir: string; spool: string; cli: (...args: string[]) => string[] } {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o755);
  const repoDir = path.join(work, 'repo');
  const config = path.join(work, 'dbm.json');
  const cpDir = path.join(work, 'cp-archive');
  const spool = path.join(work, 'spool');
  for (const d of [repoDir, cpDir, spool]) mkdirSync(d);
  writeFileSync(config, JSON.stringify({ repository: repoDir, passphrase: 'bench' }), { mode: 0o600 });
  if (AS_ROOT) spawnSync('chown', ['-R', 'postgres:', work]);
  const cli = (...args: string[]) => [process.execPath, CLI, 'repo', '--config', config, ...args];
  const [cmd, argv] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', ...cli('init')]] : [process.execPath, cli('init').slice(1)];
  if (spawnSync(cmd, argv).status !== 0) throw new Error('repo init failed');
  return { repoDir, config, cpDir, spool, cli };
}
