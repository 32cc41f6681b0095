import type { Command } from 'commander';
import { UsageError } from '../exitCodes';
import { formatBytes, printJson, table } from '../output';
import { apiTarget, call } from './client';
import { followJob } from './jobs';

/** A comma-separated flag value as a list. */
export const csv = (value: string): string[] => value.split(',').map((x) => x.trim()).filter(Boolean);
const int = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} ${value} is not a whole number`);
  return n;
};
const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').slice(0, 19) : '');

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

/** What a backup takes from, per target: `backup` and `schedule create` share these flags. */
export function withSourceOptions(cmd: Command): Command {
  return cmd
    .option('--paths <list>', 'files: absolute paths, comma-separated (default: the configured ones)', csv)
    .option('--databases <list>', 'postgres: databases, comma-separated (default: all)', csv)
    .option('--buckets <list>', 'minio: buckets or bucket/prefix, comma-separated', csv)
    .option('--cluster <name>', 'postgres-cluster: the name its WAL is archived under (default: DBM_PITR_CLUSTER of the server, or main)');
}

export function sourceFields(opts: Record<string, unknown>): Record<string, unknown> {
  return { paths: opts.paths, databases: opts.databases, buckets: opts.buckets, cluster: opts.cluster };
}

/** The seed's commands, each a call to the API. */
export function registerControl(program: Command): void {
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
        ? await call<{ status: string; checks: Record<string, { status: string; latency_ms: number; error?: string }> }>(api, 'GET', '/health', undefined, { accept: [503] })
        : null;
      const storage = opts.storage ? await call<Storage>(api, 'GET', '/api/v1/storage/status') : null;
      if (opts.json) return printJson({ ...status, ...(health ? { health } : {}), ...(storage ? { storage } : {}) });
      const out: string[] = [`status: ${status.status}  (jobs: ${Object.entries(status.jobs).map(([k, v]) => `${v} ${k}`).join(', ')}; ${status.failed_24h} failed in 24 h)`];
      if (health) out.push('', table(['DEPENDENCY', 'STATUS', 'LATENCY', 'ERROR'], Object.entries(health.checks).map(([k, c]) => [k, c.status, `${c.latency_ms} ms`, c.error ?? ''])));
      out.push('', table(['TARGET', 'LAST SUCCESS (UTC)', 'JOB', 'SNAPSHOT'], status.last_success.map((s) => [s.target, when(s.at), s.job_id, (s.snapshot_id ?? '').slice(0, 12)])));
      if (status.running.length) out.push('', table(['RUNNING', 'KIND', 'TARGETS', 'PROGRESS'], status.running.map((j) => [j.id, j.kind, j.targets.join(','), `${Math.round(j.progress * 100)} %`])));
      if (status.stuck.length) out.push('', `stuck (no sign of life): ${status.stuck.map((j) => j.id).join(', ')} — restart with: data-backup-manager jobs restart <id>`);
      if (status.last_failure) out.push('', `last failure: ${status.last_failure.id} at ${when(status.last_failure.finished_at)}: ${status.last_failure.error ?? ''}`);
      out.push('', `schedules: ${status.schedules.enabled} enabled of ${status.schedules.total}`);
      if (status.recent) out.push('', table(['RECENT JOB', 'KIND', 'STATUS', 'TARGETS', 'CREATED (UTC)'], status.recent.map((j) => [j.id, j.kind, j.status, j.targets.join(','), when(j.created_at)])));
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

  withSourceOptions(program
    .command('backup <targets>'))
    .description('back up targets now (comma-separated: postgres,files,scenarios,minio,postgres-cluster)')
    .option('--type <type>', 'full, incremental or differential', 'incremental')
    .option('--retention-days <n>', 'after the backup, forget snapshots older than this many days', int('--retention-days'))
    .option('--description <text>', 'what this backup is for')
    .option('--wait', 'follow the job to its end; exit 1 if it fails')
    .option('--verbose', 'with --wait, print the job log as it grows')
    .option('--json', 'print JSON')
    .action(async (targets: string, opts: Record<string, unknown>, cmd: Command) => {
      const api = apiTarget(cmd);
      // fields left undefined are left out of the JSON body
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/backup/create', {
        type: opts.type,
        targets: csv(targets),
        retention_days: opts.retentionDays,
        description: opts.description,
        ...sourceFields(opts),
      });
      await followJob(api, answer, opts);
    });

  program
    .command('restore')
    .description('restore a backup job, a snapshot, or the latest backups of targets')
    .option('--backup-id <job-id>', 'the backup job to restore')
    .option('--snapshot <id>', 'one snapshot (with one --targets)')
    .option('--targets <list>', 'which targets (default: all of the job)', csv)
    .option('--directory <path>', 'files: restore under this directory (default: <data>/restores/<job-id>)')
    .option('--original', 'files: restore back where they came from (overwrites)')
    .option('--database <name>', 'postgres: only this database')
    .option('--as <name>', 'postgres: restore under this new name')
    .option('--force', 'postgres: replace the existing database (loaded aside first, swapped when complete)')
    .option('--bucket <name>', 'minio: into this bucket')
    .option('--prefix <prefix>', 'minio: under this prefix')
    .option('--verify', 'verify the snapshots (read all data) before restoring')
    .option('--wait', 'follow the job to its end; exit 1 if it fails')
    .option('--verbose', 'with --wait, print the job log as it grows')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const api = apiTarget(cmd);
      const { directory, original, database, as, force, bucket, prefix } = opts;
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/restore/create', {
        backup_job_id: opts.backupId,
        snapshot: opts.snapshot,
        targets: opts.targets,
        destination: { directory, original, database, as, force, bucket, prefix },
        verify_before_restore: opts.verify === true,
      });
      await followJob(api, answer, opts);
    });

  program
    .command('list')
    .description('jobs, newest first (backups unless --kind)')
    .option('--target <name>', 'only jobs of this target')
    .option('--type <type>', 'full, incremental or differential')
    .option('--status <status>', 'queued, running, completed, failed or cancelled')
    .option('--kind <kind>', 'backup, restore, verify, cleanup or all', 'backup')
    .option('--since <when>', 'an ISO date or a duration back from now (7d)')
    .option('--limit <n>', 'page size', int('--limit'), 50)
    .option('--offset <n>', 'skip this many', int('--offset'), 0)
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const query = new URLSearchParams(
        Object.entries({ target: opts.target, type: opts.type, status: opts.status, kind: opts.kind, since: opts.since, limit: opts.limit, offset: opts.offset })
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, String(v)] as [string, string]),
      );
      const page = await call<{ total: number; offset: number; jobs: { id: string; kind: string; type: string | null; targets: string[]; status: string; created_at: string; snapshots: { target: string; snapshot_id: string | null; bytes_added: number | null }[] }[] }>(
        apiTarget(cmd),
        'GET',
        `/api/v1/backup/list?${query}`,
      );
      if (opts.json) return printJson(page);
      const rows = page.jobs.map((j) => [
        j.id,
        when(j.created_at),
        j.kind,
        j.type ?? '',
        j.status,
        j.targets.join(','),
        j.snapshots.map((s) => `${s.target}:${(s.snapshot_id ?? '').slice(0, 8)}`).join(' '),
      ]);
      process.stdout.write(`${table(['JOB', 'CREATED (UTC)', 'KIND', 'TYPE', 'STATUS', 'TARGETS', 'SNAPSHOTS'], rows)}\n${page.offset + 1}–${page.offset + page.jobs.length} of ${page.total}\n`);
    });

  program
    .command('verify [id]')
    .description('verify a backup job or snapshot; or the latest backup of a target (--target T --latest)')
    .option('--target <name>', 'the target (with --latest)')
    .option('--latest', 'the latest backup of --target')
    .option('--mode <mode>', 'read-data (every blob), structure, or subset', 'read-data')
    .option('--percent <n>', 'with --mode subset: the share read', int('--percent'))
    .option('--restore-test', 'postgres: also restore into a scratch database and compare row counts')
    .option('--wait', 'follow the job to its end; exit 1 if verification fails')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, opts: Record<string, unknown>, cmd: Command) => {
      if (!id && !opts.latest) throw new UsageError('give a backup job id or snapshot id, or --target <name> --latest');
      if (id && opts.latest) throw new UsageError('give an id or --latest, not both');
      const api = apiTarget(cmd);
      const answer = await call<{ job_id: string }>(api, 'POST', `/api/v1/backup/verify/${encodeURIComponent(id ?? 'latest')}`, {
        mode: opts.mode,
        percent: opts.percent,
        restore_test: opts.restoreTest === true ? true : undefined,
        target: opts.target,
      });
      await followJob(api, answer, opts);
    });

  program
    .command('cleanup')
    .description('forget snapshots older than a duration (per group, the newest always kept) and prune their data')
    .requiredOption('--older-than <duration>', 'e.g. 30d, 12w, 1y')
    .option('--dry-run', 'only say what would be removed (the default)')
    .option('--confirm', 'really remove')
    .option('--target <name>', 'only this target')
    .option('--wait', 'follow the job to its end')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      if (opts.dryRun && opts.confirm) throw new UsageError('--dry-run and --confirm exclude each other');
      const api = apiTarget(cmd);
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/cleanup', {
        older_than: opts.olderThan,
        dry_run: opts.confirm !== true,
        target: opts.target,
      });
      await followJob(api, answer, opts);
    });

  const catalog = program.command('catalog').description('the catalog database');
  catalog
    .command('rebuild')
    .description("rebuild the catalog's snapshot cache from the repository")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const result = await call<{ cached: number; removed: number }>(apiTarget(cmd), 'POST', '/api/v1/catalog/rebuild');
      if (opts.json) return printJson(result);
      process.stdout.write(`snapshot cache rebuilt: ${result.cached} snapshots, ${result.removed} stale entries removed\n`);
    });
}
