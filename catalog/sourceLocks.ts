import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientBase } from 'pg';

/**
 * One backup of a source at a time, across every n8n process and host that
 * shares the catalog: a session-level advisory lock on the source's key,
 * held by a connection of the step's own for as long as it runs. A worker
 * that dies drops its connection and, with it, the lock: no lease to wait
 * out. The second backup of the same source waits for the first (up to
 * `waitMs`) or, by policy, is refused at once, with who holds it.
 */
export type SameSourcePolicy = 'wait' | 'refuse';

export interface SourceHolder {
  jobId: string | null;
  runner: string | null;
}

export class SourceBusyError extends Error {}

export interface SourceLockOptions {
  policy: SameSourcePolicy;
  waitMs: number;
  /** called once, when the lock is held by another and we wait */
  onWait?: (holder: string) => Promise<void> | void;
}

/** A source as locks name it: the target and what it reads, in one order (`files /srv/a, /srv/b`). */
export function sourceKey(target: string, parts: string[]): string {
  return `${target} ${parts.length ? [...new Set(parts)].sort().join(', ') : '(all)'}`;
}

/** The lock's 64-bit number: PostgreSQL's own hash of the key. */
const LOCK = 'hashtextextended($1, 0)';

/** Takes the source's lock on `client` (a connection no one else uses), records the holder, and answers how to let go. */
export async function lockSource(client: ClientBase, key: string, me: SourceHolder, opts: SourceLockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
    if ((await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS ok`, [key])).rows[0].ok) break;
    const holder = await describeHolder(client, key);
    if (opts.policy === 'refuse' || Date.now() + delay > deadline) {
      const waited = opts.policy === 'wait' ? ` (waited ${Math.round(opts.waitMs / 1000)} s)` : '';
      throw new SourceBusyError(`another backup of ${key} is running${holder ? `: ${holder}` : ''}${waited}; two backups of one source never run at once`);
    }
    if (!told) {
      told = true;
      await opts.onWait?.(holder || 'another backup');
    }
    await sleep(delay);
  }
  await client.query(
    `INSERT INTO source_locks (key, job_id, runner, since) VALUES ($1, $2, $3, now())
       ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, runner = excluded.runner, since = excluded.since`,
    [key, me.jobId, me.runner],
  );
  return async () => {
    await client.query('DELETE FROM source_locks WHERE key = $1 AND job_id IS NOT DISTINCT FROM $2', [key, me.jobId]);
    await client.query(`SELECT pg_advisory_unlock(${LOCK})`, [key]);
  };
}

async function describeHolder(client: ClientBase, key: string): Promise<string> {
  const row = (await client.query<{ job_id: string | null; runner: string | null; since: Date }>('SELECT job_id, runner, since FROM source_locks WHERE key = $1', [key])).rows[0];
  if (!row) return '';
  return `${row.job_id ? `job ${row.job_id}` : 'a backup outside any job'}${row.runner ? ` on ${row.runner}` : ''}, since ${row.since.toISOString()}`;
}
