import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Pool, PoolClient } from 'pg';
import { migrate } from '../../catalog/migrate';
import { lockSource, sourceKey } from '../../catalog/sourceLocks';
import { newCatalogDatabase } from '../support/catalog';

/** Two backups of one source, from two connections as two workers would hold them, against a real catalog. */
describe('one backup of a source at a time', () => {
  let pool: Pool;
  const held: PoolClient[] = [];
  const connection = async () => {
    const c = await pool.connect();
    held.push(c);
    return c;
  };

  beforeAll(async () => {
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
  });
  // each connection ends with its test (and any lock a failed test left on it)
  afterEach(() => {
    for (const c of held.splice(0)) c.release(true);
  });
  afterAll(async () => {
    await pool.end();
  });

  const key = sourceKey('files', ['/srv/b', '/srv/a', '/srv/a']);

  it('names a source the same whichever order its parts come in', () => {
    expect(key).toBe('files /srv/a, /srv/b');
    expect(sourceKey('postgres', [])).toBe('postgres (all)');
  });

  it('the second waits for the first, saying who holds it, and runs when it lets go', async () => {
    const first = await lockSource(await connection(), key, { jobId: 'job_first', runner: 'worker-1@a' }, { policy: 'wait', waitMs: 30_000 });
    const waits: string[] = [];
    let secondHeld = false;
    const second = lockSource(await connection(), key, { jobId: 'job_second', runner: 'worker-2@b' }, { policy: 'wait', waitMs: 30_000, onWait: (h) => void waits.push(h) }).then((unlock) => {
      secondHeld = true;
      return unlock;
    });
    await sleep(1500);
    expect(secondHeld).toBe(false);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatch(/^job job_first on worker-1@a, since \d{4}-/);
    // another source is not held up
    const other = await lockSource(await connection(), sourceKey('files', ['/srv/c']), { jobId: 'job_other', runner: null }, { policy: 'refuse', waitMs: 0 });
    await other();
    await first();
    const unlockSecond = await second;
    expect(secondHeld).toBe(true);
    expect((await pool.query('SELECT job_id FROM source_locks WHERE key = $1', [key])).rows).toEqual([{ job_id: 'job_second' }]);
    await unlockSecond();
    expect((await pool.query('SELECT count(*)::int AS n FROM source_locks')).rows[0].n).toBe(0);
  });

  it('by policy, the second is refused at once with the holder; a wait has a bound', async () => {
    const unlock = await lockSource(await connection(), key, { jobId: 'job_one', runner: 'worker-1@a' }, { policy: 'wait', waitMs: 0 });
    await expect(lockSource(await connection(), key, { jobId: 'job_two', runner: null }, { policy: 'refuse', waitMs: 60_000 })).rejects.toThrow(
      /^another backup of files \/srv\/a, \/srv\/b is running: job job_one on worker-1@a, since .*; two backups of one source never run at once$/,
    );
    await expect(lockSource(await connection(), key, { jobId: 'job_three', runner: null }, { policy: 'wait', waitMs: 800 })).rejects.toThrow(/\(waited 1 s\)/);
    await unlock();
  });

  it('a holder whose connection dies (a worker killed) lets go at once: no lease to wait out', async () => {
    const doomed = await connection();
    await lockSource(doomed, key, { jobId: 'job_killed', runner: 'worker-1@a' }, { policy: 'wait', waitMs: 0 });
    const pid = (await doomed.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    doomed.on('error', () => undefined);
    await pool.query('SELECT pg_terminate_backend($1)', [pid]); // as the server sees a worker's connection drop
    const unlock = await lockSource(await connection(), key, { jobId: 'job_next', runner: 'worker-2@b' }, { policy: 'wait', waitMs: 10_000 });
    // the dead holder's row was taken over
    expect((await pool.query('SELECT job_id FROM source_locks WHERE key = $1', [key])).rows).toEqual([{ job_id: 'job_next' }]);
    await unlock();
  });
});
