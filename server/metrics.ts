import type { Pool } from 'pg';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { QueueCluster } from './context';
import type { StorageMonitor } from './storageStatus';

/**
 * Prometheus metrics. Jobs run in n8n, not here, so each figure is read from
 * the catalog when scraped (gauges with collect()), not counted in memory: a
 * restarted server reports the same numbers.
 */
export function createMetrics(catalog: Pool, storage: StorageMonitor, cluster?: QueueCluster): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dbm_api_' });
  // prom-client's gauges named like counters (promtool refuses them); their by-type twins stay
  for (const gaugeNamedTotal of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`dbm_api_nodejs_${gaugeNamedTotal}`);
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => Promise<void>): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        await collect(this);
      },
    });
  };
  gauge('dbm_jobs', 'Jobs in the catalog by kind and outcome', ['kind', 'status'], async (g) => {
    for (const r of (await catalog.query<{ kind: string; status: string; n: number }>('SELECT kind, status, count(*)::float8 AS n FROM jobs GROUP BY kind, status')).rows) {
      g.set({ kind: r.kind, status: r.status }, r.n);
    }
  });
  gauge('dbm_job_run_seconds', 'Run time of all finished jobs together, by kind and outcome', ['kind', 'status'], async (g) => {
    const rows = (
      await catalog.query<{ kind: string; status: string; s: number }>(
        `SELECT kind, status, coalesce(sum(extract(epoch FROM finished_at - coalesce(started_at, created_at))), 0)::float8 AS s
           FROM jobs WHERE finished_at IS NOT NULL GROUP BY kind, status`,
      )
    ).rows;
    for (const r of rows) g.set({ kind: r.kind, status: r.status }, r.s);
  });
  gauge('dbm_job_last_duration_seconds', 'Run time of the newest finished job by kind', ['kind'], async (g) => {
    const rows = (
      await catalog.query<{ kind: string; s: number }>(
        `SELECT DISTINCT ON (kind) kind, extract(epoch FROM finished_at - coalesce(started_at, created_at))::float8 AS s
           FROM jobs WHERE status = 'completed' ORDER BY kind, finished_at DESC`,
      )
    ).rows;
    for (const r of rows) g.set({ kind: r.kind }, r.s);
  });
  gauge('dbm_backup_bytes', 'Bytes of completed backup steps by target: read from the source, added after dedup, stored after compression', ['target', 'stage'], async (g) => {
    const rows = (
      await catalog.query<{ target: string; r: number; a: number; s: number }>(
        `SELECT target, coalesce(sum(bytes_read), 0)::float8 AS r, coalesce(sum(bytes_added), 0)::float8 AS a, coalesce(sum(bytes_stored), 0)::float8 AS s
           FROM job_steps s JOIN jobs j ON j.id = s.job_id WHERE j.kind = 'backup' AND s.status = 'completed' GROUP BY target`,
      )
    ).rows;
    for (const r of rows) {
      g.set({ target: r.target, stage: 'read' }, r.r);
      g.set({ target: r.target, stage: 'added' }, r.a);
      g.set({ target: r.target, stage: 'stored' }, r.s);
    }
  });
  gauge('dbm_last_success_timestamp_seconds', 'When each target last backed up successfully (the recovery point)', ['target'], async (g) => {
    const rows = (
      await catalog.query<{ target: string; t: number }>(
        `SELECT s.target, extract(epoch FROM max(s.recorded_at))::float8 AS t FROM job_steps s JOIN jobs j ON j.id = s.job_id
          WHERE s.status = 'completed' AND j.kind = 'backup' GROUP BY s.target`,
      )
    ).rows;
    for (const r of rows) g.set({ target: r.target }, r.t);
  });
  gauge('dbm_last_restore_duration_seconds', 'How long the newest restore of each target took (the recovery time)', ['target'], async (g) => {
    const rows = (
      await catalog.query<{ target: string; s: number }>(
        `SELECT DISTINCT ON (t) t AS target, extract(epoch FROM finished_at - coalesce(started_at, created_at))::float8 AS s
           FROM jobs, unnest(targets) AS t WHERE kind = 'restore' AND status = 'completed' ORDER BY t, finished_at DESC`,
      )
    ).rows;
    for (const r of rows) g.set({ target: r.target }, r.s);
  });
  gauge('dbm_repository_size_bytes', 'Bytes the repository occupies', [], async (g) => {
    try {
      g.set((await storage.repositoryStats()).bytes);
    } catch {
      // no repository (yet): no sample
    }
  });
  gauge('dbm_pitr_latest_restorable_timestamp_seconds', 'Per archived PostgreSQL cluster, the latest moment a point-in-time restore reaches (stalls when archiving stops or falls behind)', ['cluster'], async (g) => {
    for (const w of await storage.pitrWindows().catch(() => [])) if (w.latest) g.set({ cluster: w.cluster }, Date.parse(w.latest) / 1000);
  });
  gauge('dbm_pitr_wal_gap_segments', 'Per archived PostgreSQL cluster, WAL segments missing from the archive after its oldest base backup', ['cluster'], async (g) => {
    for (const w of await storage.pitrWindows().catch(() => [])) g.set({ cluster: w.cluster }, w.gaps.reduce((n, gap) => n + gap.count, 0));
  });
  gauge('dbm_schedules', 'Schedules by state', ['enabled'], async (g) => {
    for (const r of (await catalog.query<{ enabled: boolean; n: number }>('SELECT enabled, count(*)::float8 AS n FROM schedules GROUP BY enabled')).rows) {
      g.set({ enabled: String(r.enabled) }, r.n);
    }
  });
  gauge('dbm_runner_jobs', 'Jobs by the n8n process that ran them (main, or a queue-mode worker and its host) and outcome', ['runner', 'status'], async (g) => {
    const rows = (await catalog.query<{ runner: string; status: string; n: number }>('SELECT runner, status, count(*)::float8 AS n FROM jobs WHERE runner IS NOT NULL GROUP BY runner, status')).rows;
    for (const r of rows) g.set({ runner: r.runner, status: r.status }, r.n);
  });
  if (cluster) {
    gauge('dbm_queue_waiting_executions', "Executions waiting in n8n's queue for a worker", [], async (g) => {
      try {
        g.set(await cluster.queueDepth());
      } catch {
        // Redis unreachable: no sample (/health says down)
      }
    });
  }
  return registry;
}
