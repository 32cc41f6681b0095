import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError } from '../../errors';
import { pgDriver } from '../postgres/connection';
import { findPgTool } from '../postgres/tools';

export interface RecoverOptions {
  port: number;
  /** the system user the server runs as (needed when we are root) */
  runAs?: string;
  /** a superuser to ask the server whether recovery is over (default postgres, over the socket) */
  user?: string;
  timeoutMs?: number;
}

/**
 * Starts a restored cluster and waits until it has replayed WAL to its
 * target and promoted itself: from then on it is a primary on a new
 * timeline. A recovery that cannot reach its target (missing WAL) makes
 * PostgreSQL stop; its log says why, and so does the error.
 */
export async function startRecoveredCluster(dataDir: string, opts: RecoverOptions): Promise<{ seconds: number; timeline: number }> {
  const started = Date.now();
  const pgCtl = pgCtlFor(dataDir);
  const log = path.join(dataDir, 'recovery.log');
  const conf = `-p ${opts.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dataDir}`;
  const argv = ['-D', dataDir, '-o', conf, '-l', log, '-w', '-t', String(Math.round((opts.timeoutMs ?? 600_000) / 1000)), 'start'];
  const [cmd, args] = opts.runAs ? ['runuser', ['-u', opts.runAs, '--', pgCtl, ...argv]] : [pgCtl, argv];
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.status !== 0) throw new BackupError(`the restored cluster did not start: ${reasonIn(log) ?? res.stderr.trim()}`);
  const deadline = started + (opts.timeoutMs ?? 600_000);
  for (;;) {
    const client = new (pgDriver().Client)({ host: dataDir, port: opts.port, user: opts.user ?? 'postgres', database: 'postgres' });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if (!(await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r) {
        await client.query('CHECKPOINT'); // so pg_control shows the new timeline
        const tli = (await client.query<{ t: number }>('SELECT timeline_id AS t FROM pg_control_checkpoint()')).rows[0].t;
        return { seconds: (Date.now() - started) / 1000, timeline: tli };
      }
    } catch (err) {
      const reason = reasonIn(log);
      if (reason) throw new BackupError(`recovery failed: ${reason}`);
      if (String((err as { code?: string }).code ?? '').startsWith('28')) {
        throw new BackupError(`the restored cluster is recovering, but connecting to it as ${opts.user ?? 'postgres'} over its socket failed (${(err as Error).message}); follow it in ${log}`);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new BackupError(`recovery did not finish within ${(opts.timeoutMs ?? 600_000) / 1000} s; see ${log}`);
    await sleep(250);
  }
}

/** The line of a PostgreSQL log that explains a failed recovery, if there is one. */
function reasonIn(log: string): string | null {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const fatal = lines.filter((l) => /FATAL|PANIC/.test(l));
  if (fatal.length === 0) return null;
  const hint = lines.find((l) => /recovery ended before configured recovery target was reached/.test(l));
  return (hint ?? fatal[fatal.length - 1]).replace(/^.*?(FATAL|PANIC):\s*/, '');
}

/** The pg_ctl of the data directory's own major version (PG_VERSION): another major cannot run it. */
function pgCtlFor(dataDir: string): string {
  const major = Number(readFileSync(path.join(dataDir, 'PG_VERSION'), 'utf8').trim());
  return findPgTool('pg_ctl', major, undefined, true).path;
}

/** Stops a cluster started by startRecoveredCluster. */
export function stopCluster(dataDir: string, runAs?: string): void {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) return; // never restored: nothing runs there
  const pgCtl = pgCtlFor(dataDir);
  const argv = ['-D', dataDir, '-m', 'fast', '-w', 'stop'];
  if (runAs) spawnSync('runuser', ['-u', runAs, '--', pgCtl, ...argv]);
  else spawnSync(pgCtl, argv);
}
