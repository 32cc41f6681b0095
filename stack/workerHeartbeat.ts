import type { Pool } from 'pg';
import { HEARTBEAT_MS, removeWorkers, reportWorkers } from '../catalog/workers';
import type { N8nProcess } from './n8n';

/**
 * Reports this host's n8n workers to the catalog every few seconds (alive:
 * its health server answers), so the main stack's /health and `status`
 * list every worker of the cluster, here or on another host. A clean stop
 * takes them off the list.
 */
export function reportWorkersAlive(catalog: Pool, host: string, workers: { name: string; process: N8nProcess }[]): { first: Promise<void>; stop(): Promise<void> } {
  const report = async (): Promise<void> => {
    const states = await Promise.all(
      workers.map(async (w) => {
        const alive = await fetch(`${w.process.baseUrl}/healthz/readiness`, { signal: AbortSignal.timeout(3000) }).then((r) => r.ok, () => false);
        return { name: w.name, host, alive, healthUrl: w.process.baseUrl };
      }),
    );
    await reportWorkers(catalog, states);
  };
  let pending: Promise<void> = report().catch(() => undefined);
  const first = pending;
  const timer = setInterval(() => {
    pending = pending.then(report).catch(() => undefined); // the catalog down now: the next beat tries again
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    /** the first report made (or failed): a stack says it is ready only once the cluster lists its workers */
    first,
    stop: async () => {
      clearInterval(timer);
      await pending;
      await removeWorkers(catalog, workers.map((w) => w.name)).catch(() => undefined);
    },
  };
}
