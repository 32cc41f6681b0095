import type { Pool } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { failRunningExecutions } from '../catalog/jobs';
import type { N8nProcess } from './n8n';
import type { PostgresCluster } from './postgresCluster';
import type { RedisServer } from './redis';

/**
 * The stack keeps its children alive. When an n8n process ends without being
 * asked to, the jobs it was running end too (failed, with how it ended: its
 * executions die with it): every running job for n8n without workers, only
 * its own (`runner`) for a queue-mode worker, none for queue mode's main,
 * which runs none. Then it is started again with a backoff (1 s, doubling up
 * to a minute) until it is back.
 */
export function superviseN8n(
  n8n: N8nProcess,
  catalog: Pool,
  log: (line: string) => void,
  who: { name: string; runner?: string | null } = { name: 'n8n' },
): void {
  n8n.onUnexpectedExit = (how) => {
    void (async () => {
      const failed =
        who.runner === null
          ? []
          : await failRunningExecutions(catalog, `${who.name} stopped during the job (${how}); restart the job`, who.runner).catch(() => [] as string[]);
      log(`${who.name} stopped unexpectedly (${how})${failed.length ? `; jobs failed: ${failed.join(', ')}` : ''}; starting it again`);
      await restartWithBackoff(() => n8n.start(), () => n8n.stopped, who.name, log);
    })();
  };
}

/**
 * Queue mode's Redis, started again when it ends. It keeps nothing on disk,
 * so the executions queued or running when it ended can no longer be handed
 * out or reported: their jobs fail now, with that reason, not at the
 * reconciler's grace period.
 */
export function superviseRedis(redis: RedisServer, catalog: Pool, log: (line: string) => void): void {
  redis.onUnexpectedExit = (how) => {
    void (async () => {
      const failed = await failRunningExecutions(catalog, `Redis (n8n's queue) stopped during the job (${how}); restart the job`).catch(() => [] as string[]);
      log(`Redis stopped unexpectedly (${how})${failed.length ? `; jobs failed: ${failed.join(', ')}` : ''}; starting it again`);
      await restartWithBackoff(() => redis.start(), () => redis.stopped, 'Redis', log);
    })();
  };
}

async function restartWithBackoff(start: () => Promise<void>, stopped: () => boolean, name: string, log: (line: string) => void): Promise<void> {
  for (let delay = 1000; !stopped(); delay = Math.min(delay * 2, 60_000)) {
    await sleep(delay);
    if (stopped()) return;
    try {
      await start();
      log(`${name} is running again`);
      return;
    } catch (err) {
      log(`${name} did not start again (${(err as Error).message}); next try in ${Math.min(delay * 2, 60_000) / 1000} s`);
    }
  }
}

/**
 * The embedded catalog PostgreSQL, checked every few seconds and started again when it is down;
 * when starting fails, the next try waits twice as long (up to a minute).
 */
export function superviseCluster(cluster: PostgresCluster, log: (line: string) => void, intervalMs = 5000): { stop(): void } {
  let stopped = false;
  let backoff = 0;
  let nextTry = 0;
  const timer = setInterval(() => {
    if (stopped || Date.now() < nextTry || cluster.isRunning()) return;
    log('the catalog PostgreSQL is down; starting it again');
    try {
      cluster.start();
      backoff = 0;
      log('the catalog PostgreSQL is running again');
    } catch (err) {
      backoff = Math.min(Math.max(backoff * 2, intervalMs), 60_000);
      nextTry = Date.now() + backoff;
      log(`the catalog PostgreSQL did not start: ${(err as Error).message.split('\n')[0]}; next try in ${backoff / 1000} s`);
    }
  }, intervalMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
