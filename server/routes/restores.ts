import { Hono } from 'hono';
import * as path from 'node:path';
import { z } from 'zod/v4';
import { allowedDatabase, allowedPath, requireJobRole, roleForJob } from '../access';
import { requireRole } from '../auth';
import { getJob, newJobId } from '../../catalog/jobs';
import type { AppDeps, AppEnv } from '../context';
import { dispatchJob } from '../dispatch';
import { describe, jsonBody } from '../describe';
import { ApiError } from '../errors';
import { CLUSTER_TARGET } from '../../engine/targets/postgresCluster/baseBackup';
import { targetEntry, targetNames } from '../../engine/targets/registry';
import { targetEnum } from '../targetFields';
import { jobIdParam } from './params';

export const restoreBody = () =>
  z
  .object({
    backup_job_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a job id').optional(),
    snapshot: z.string().regex(/^([0-9a-f]{8,64}|latest)$/, 'must be a snapshot id (hex) or "latest"').optional(),
    targets: z.array(targetEnum()).min(1).max(targetNames().length).optional(),
    destination: z
      .object({
        /** files, scenarios: restore under this directory (default: <data>/restores/<job-id>) */
        directory: z.string().startsWith('/', 'must be an absolute path').max(4096).optional(),
        /** files: back where they were backed up from (overwrites) */
        original: z.boolean().optional(),
        /** postgres: only this database of the snapshot */
        database: z.string().min(1).max(63).optional(),
        /** postgres: under this new name */
        as: z.string().min(1).max(63).optional(),
        /** postgres: replace the existing database (safely: loaded aside, swapped when complete) */
        force: z.boolean().optional(),
        /** postgres: the role to own the restored database (default: the one it had) */
        owner: z.string().min(1).max(63).optional(),
        /** files: only these paths of the snapshot (relative to its root, as the snapshot browser shows them; globs allowed) */
        include: z.array(z.string().min(1).max(4096).regex(/^[^/]/, 'must be relative to the snapshot root (no leading /)').refine((p) => !p.split('/').includes('..'), 'must not contain ..')).min(1).max(100).optional(),
        /** minio: into this bucket and prefix */
        bucket: z.string().min(3).max(63).optional(),
        prefix: z.string().max(1024).optional(),
      })
      .strict()
      .default({}),
    verify_before_restore: z.boolean().default(false),
    description: z.string().max(500).optional(),
    /** point-in-time recovery of a PostgreSQL cluster (its base backups and archived WAL) */
    cluster: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a cluster name (letters, digits, _ . -)').optional(),
    target_time: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-11-26T10:30:00Z' }).optional(),
    target_lsn: z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'must be an LSN like 0/3000060').optional(),
    /** a restore point made with pg_create_restore_point */
    target_name: z.string().min(1).max(63).optional(),
    /** the commit of this transaction */
    target_xid: z.string().regex(/^\d{1,20}$/, 'must be a transaction id (a number)').optional(),
    data_directory: z.string().startsWith('/', 'must be an absolute path').max(4096).optional(),
    start_port: z.number().int().min(1).max(65535).optional(),
  })
  .strict()
  .refine((b) => [b.target_time, b.target_lsn, b.target_name, b.target_xid].filter(Boolean).length <= 1, { message: 'give one of target_time, target_lsn, target_name and target_xid', path: ['target_lsn'] })
  .refine((b) => b.cluster || !(b.target_time || b.target_lsn || b.target_name || b.target_xid || b.data_directory || b.start_port), {
    message: 'target_time, target_lsn, target_name, target_xid, data_directory and start_port are for a cluster restore: name the cluster',
    path: ['cluster'],
  })
  .refine((b) => !(b.backup_job_id && b.snapshot), { message: 'give backup_job_id or snapshot, not both', path: ['snapshot'] })
  .refine((b) => b.backup_job_id || b.snapshot || b.targets || b.cluster, { message: 'name what to restore: backup_job_id, snapshot, or targets (their latest backups)', path: ['targets'] });

type RestoreBody = z.infer<ReturnType<typeof restoreBody>>;

/** `/api/v1/restore`: a restore is a job the restore workflow runs, one step per snapshot. */
export function restoreRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/create', describe({ operationId: 'createRestore', summary: 'Restore a backup job\'s snapshots, one snapshot, or the latest of targets', answers: 'job' }), requireRole('operator'), jsonBody(restoreBody()), async (c) => {
    const body = c.req.valid('json');
    const jobId = newJobId();
    const restores = body.cluster
      ? [clusterRestore(deps, body, jobId)]
      : (await resolveSnapshots(deps, body)).map((s) => ({ ...s, ...destinationOf(deps, body, s.target, jobId) }));
    const request = { restores, verify_before_restore: body.verify_before_restore, backup_job_id: body.backup_job_id };
    requireJobRole(c, roleForJob('restore', request));
    const job = await dispatchJob(deps, {
      kind: 'restore',
      targets: [...new Set(restores.map((r) => String(r.target)))],
      description: body.description ?? (body.backup_job_id ? `restore of ${body.backup_job_id}` : `restore of ${body.snapshot ?? 'the latest backups'}`),
      request,
      id: jobId,
    });
    return c.json({ job_id: job.id, status: 'queued', restores }, 202);
  });

  app.get('/:id', describe({ operationId: 'getRestore', summary: 'A restore job', answers: 'json', params: { id: 'job id' } }), requireRole('viewer'), async (c) => {
    const id = jobIdParam(c.req.param('id'));
    const job = await getJob(deps.catalog, id);
    if (!job || job.kind !== 'restore') throw new ApiError(404, `no restore job ${id}`);
    return c.json(job);
  });
  return app;
}

async function resolveSnapshots(deps: AppDeps, body: RestoreBody): Promise<{ snapshot: string; target: string }[]> {
  if (body.snapshot) {
    if (body.targets?.length !== 1) throw new ApiError(400, "targets: name the snapshot's one target (it decides where the restore goes)", 'targets');
    return [{ snapshot: body.snapshot, target: body.targets[0] }];
  }
  if (!body.backup_job_id) return (body.targets ?? []).map((target) => ({ snapshot: 'latest', target }));
  const job = await getJob(deps.catalog, body.backup_job_id);
  if (!job) throw new ApiError(404, `no backup job ${body.backup_job_id}`, 'backup_job_id');
  if (job.kind !== 'backup') throw new ApiError(400, `job ${job.id} is a ${job.kind} job, not a backup`, 'backup_job_id');
  const steps = job.steps.filter((s) => s.status === 'completed' && s.snapshot_id && (!body.targets || body.targets.includes(s.target)));
  const missing = (body.targets ?? []).filter((t) => !steps.some((s) => s.target === t));
  if (missing.length > 0) throw new ApiError(409, `backup job ${job.id} (${job.status}) has no snapshot of ${missing.join(', ')}`, 'targets');
  if (steps.length === 0) throw new ApiError(409, `backup job ${job.id} (${job.status}) has no snapshots to restore`, 'backup_job_id');
  return steps.map((s) => ({ snapshot: String(s.snapshot_id), target: s.target }));
}

/** A cluster to a moment: the restore node picks the base backup; the data directory is new. */
function clusterRestore(deps: AppDeps, body: RestoreBody, jobId: string): Record<string, unknown> {
  const dir = body.data_directory ?? (deps.defaults?.restoreDir ? path.join(deps.defaults.restoreDir, jobId, CLUSTER_TARGET) : undefined);
  if (!dir) throw new ApiError(400, 'data_directory: a cluster restore needs a new data directory', 'data_directory');
  allowedPath(deps, 'restore destination', dir, 'data_directory');
  return {
    snapshot: 'latest',
    target: CLUSTER_TARGET,
    destination: 'cluster',
    cluster: body.cluster,
    recovery_target: body.target_time ? 'time' : body.target_lsn ? 'lsn' : body.target_name ? 'name' : body.target_xid ? 'xid' : 'latest',
    target_time: body.target_time,
    target_lsn: body.target_lsn,
    target_name: body.target_name,
    target_xid: body.target_xid,
    data_directory: dir,
    start_port: body.start_port,
  };
}

/** Where one snapshot goes: the restore node's destination and its parameters. */
function destinationOf(deps: AppDeps, body: RestoreBody, target: string, jobId: string): Record<string, unknown> {
  const d = body.destination;
  const kind = targetEntry(target)?.restoresTo;
  if (d.include && kind !== undefined && kind !== 'directory') throw new ApiError(400, `destination.include: only a files restore takes paths (${target} restores to a ${kind})`, 'destination.include');
  if (kind === 'cluster') {
    throw new ApiError(400, `targets: a ${target} base backup is restored to a moment: give cluster and target_time, target_lsn or neither (latest)`, 'targets');
  }
  if (kind === 'database') {
    allowedDatabase(deps, d.as ?? d.database, d.as ? 'destination.as' : 'destination.database');
    return { destination: 'postgres', database: d.database, as: d.as, force: d.force === true, owner: d.owner };
  }
  if (kind === 'bucket') return { destination: 'minio', bucket: d.bucket, prefix: d.prefix };
  const include = d.include ? { include: d.include } : {};
  if (d.original) return { destination: 'original', ...include };
  const base = d.directory ?? (deps.defaults?.restoreDir ? path.join(deps.defaults.restoreDir, jobId) : undefined);
  if (!base) throw new ApiError(400, 'destination.directory: a files restore needs a directory (or destination.original: true)', 'destination.directory');
  if (d.directory) allowedPath(deps, 'restore destination', d.directory, 'destination.directory');
  return { destination: 'directory', directory: allowedPath(deps, 'restore destination', path.join(base, target), 'destination.directory'), ...include };
}
