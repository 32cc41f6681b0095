import type { Command } from 'commander';
import { formatBytes, printJson, table, utcTime } from '../output';
import { apiTarget, call } from './client';

interface Status {
  status: string;
  jobs: Record<string, number>;
  failed_24h: number;
  running: { id: string; kind: string; targets: string[]; progress: number }[];
  stuck: { id: string; kind: string; heartbeat_at: string | null }[];
  last_success: { target: string; job_id: string; snapshot_id: string | null; at: string }[];
  last_failure: { id: string; error: string | null; finished_at: string | null } | null;
  schedules: { total: number; enabled: number };
  recent?: { id: string; kind: string; status: string; targets: string[]; created_at: string }[];
}

interface Storage {
  repository: { location: string; bytes: number; objects: number; packs: number; snapshots: number } | null;
  totals: { dedup_ratio: number | null; compression_ratio: number | null };
  growth: { last_24h: number; last_7d: number; last_30d: number };
  filesystem: { free_bytes: number; total_bytes: number } | null;
  warnings: string[];
}

/** `status`: health, jobs, and the last successful backup of each target (and, asked, the repository's storage). */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('health, jobs, and the last successful backup of each target')
    .option('--json', 'print JSON')
    .option('--verbose', 'also the dependencies and the recent jobs')
    .option('--storage', 'also the repository: size, dedup, growth, capacity warnings')
    .action(async (opts: { json?: boolean; verbose?: boolean; storage?: boolean }, cmd: Command) => {
      const api = apiTarget(cmd);
      const status = await call<Status>(api, 'GET', `/api/v1/backup/status${opts.verbose ? '?verbose=true' : ''}`);
      // with the token, /health shows latencies and errors too; 503 (a dependency down) is an answer here, not a failure
      const health = opts.verbose
        ? await call<{ status: string; checks: Record<string, { status: string; latency_ms: number; error?: string; running?: number; queued?: number }> }>(api, 'GET', '/health', undefined, { accept: [503] })
        : null;
      const storage = opts.storage ? await call<Storage>(api, 'GET', '/api/v1/storage/status') : null;
      if (opts.json) return printJson({ ...status, ...(health ? { health } : {}), ...(storage ? { storage } : {}) });
      const out: string[] = [`status: ${status.status}  (jobs: ${Object.entries(status.jobs).map(([k, v]) => `${v} ${k}`).join(', ')}; ${status.failed_24h} failed in 24 h)`];
      // a worker says what it runs, Redis how many executions wait for one
      const detail = (c: { error?: string; running?: number; queued?: number }): string =>
        c.error ?? (c.running !== undefined ? `${c.running} running` : c.queued !== undefined ? `${c.queued} queued` : '');
      if (health) out.push('', table(['DEPENDENCY', 'STATUS', 'LATENCY', 'DETAIL'], Object.entries(health.checks).map(([k, c]) => [k, c.status, `${c.latency_ms} ms`, detail(c)])));
      out.push('', table(['TARGET', 'LAST SUCCESS (UTC)', 'JOB', 'SNAPSHOT'], status.last_success.map((s) => [s.target, utcTime(s.at), s.job_id, (s.snapshot_id ?? '').slice(0, 12)])));
      if (status.running.length) out.push('', table(['RUNNING', 'KIND', 'TARGETS', 'PROGRESS'], status.running.map((j) => [j.id, j.kind, j.targets.join(','), `${Math.round(j.progress * 100)} %`])));
      if (status.stuck.length) out.push('', `stuck (no sign of life): ${status.stuck.map((j) => j.id).join(', ')} — restart with: data-backup-manager jobs restart <id>`);
      if (status.last_failure) out.push('', `last failure: ${status.last_failure.id} at ${utcTime(status.last_failure.finished_at)}: ${status.last_failure.error ?? ''}`);
      out.push('', `schedules: ${status.schedules.enabled} enabled of ${status.schedules.total}`);
      if (status.recent) out.push('', table(['RECENT JOB', 'KIND', 'STATUS', 'TARGETS', 'CREATED (UTC)'], status.recent.map((j) => [j.id, j.kind, j.status, j.targets.join(','), utcTime(j.created_at)])));
      if (storage) {
        const r = storage.repository;
        out.push(
          '',
          r ? `repository ${r.location}: ${formatBytes(r.bytes)} in ${r.objects} objects (${r.packs} packs, ${r.snapshots} snapshots)` : 'repository: not readable',
          `dedup ${storage.totals.dedup_ratio ?? '-'}x, compression ${storage.totals.compression_ratio ?? '-'}x; growth ${formatBytes(storage.growth.last_24h)} / 24 h, ${formatBytes(storage.growth.last_7d)} / 7 d`,
        );
        if (storage.filesystem) out.push(`filesystem: ${formatBytes(storage.filesystem.free_bytes)} free of ${formatBytes(storage.filesystem.total_bytes)}`);
        for (const w of storage.warnings) out.push(`WARNING: ${w}`);
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
