import type { Pool } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { failRunningExecutions } from '../catalog/jobs';
import type { N8nProcess } from './n8n';
import type { PostgresCluster } from './postgresCluster';

/**
 * The stack keeps its children alive. When n8n ends without being asked to,
 * the jobs it was running end too (failed, with how n8n ended: in one
 * process, its executions die with it), and n8n is started again with a
 * backoff (1 s, doubling up to a minute) until it is back.
 */
export function superviseN8n(n8n: N8nProcess, catalog: Pool, log: (line: string) => void): void {
  n8n.onUnexpectedExit = (how) => {
    void (async () => {
      const failed = await failRunningExecutions(catalog, `n8n stopped during the job (${how}); restart the job`).catch(() => [] as string[]);
      log(`n8n stopped unexpectedly (${how})${failed.length ? `; jobs failed: ${failed.join(', ')}` : ''}; starting it again`);
      for (let delay = 1000; !n8n.stopped; delay = Math.min(delay * 2, 60_000)) {
        await sleep(delay);
        if (n8n.stopped) return;
        try {
          await n8n.start();
          log('n8n is running again');
          return;
        } catch (err) {
          log(`n8n did not start again (${(err as Error).message}); next try in ${Math.min(delay * 2, 60_000) / 1000} s`);
        }
      }
    })();
  };
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
