import { Hono } from 'hono';
import { z } from 'zod/v4';
import { BACKUP_TYPES, parseDuration } from '../../engine';
import { requireRole } from '../auth';
import { cached } from '../cached';
import { getJob, listJobs, statusSummary, stuckJobs, type Job } from '../../catalog/jobs';
import { targetNames } from '../../engine/targets/registry';
import { checkSourcePaths, sourceDefaults, sourceFields, targetEnum } from '../targetFields';
import { listSchedules } from '../../catalog/schedules';
import type { AppDeps, AppEnv } from '../context';
import { dispatchJob } from '../dispatch';
import { describe, jsonBody, queryOf } from '../describe';
import { ApiError } from '../errors';
import { jobIdParam } from './params';

export { BACKUP_TYPES };
/** `verbose=true` adds the recent jobs. */
export const statusQuery = z.object({ verbose: z.enum(['true', 'false']).optional() });

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;

/** A backup request: the targets and, from the target registry, what each reads. */
export function createBackupBody() {
  return z
    .object({
      type: z.enum(BACKUP_TYPES).default('incremental'),
      targets: z.array(targetEnum()).min(1).max(targetNames().length),
      description: z.string().max(500).optional(),
      retention_days: z.number().int().positive().max(36500).optional(),
      ...sourceFields(),
    })
    .strict();
}

/** `since`: an ISO date or a duration back from now (7d, 12h). */
const since = z.string().max(100).transform((value, ctx) => {
  const date = /^\d+[smhdwy]$/.test(value) ? new Date(Date.now() - parseDuration(value)) : new Date(value);
  // beyond year 0 or 9999 PostgreSQL's timestamptz and JavaScript disagree: a 400, not a 500
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO date (2026-11-01) or a duration (7d, 12h)' });
    return z.NEVER;
  }
  return date;
});

export const listQuery = () =>
  z
  .object({
    target: targetEnum().optional(),
    type: z.enum(BACKUP_TYPES).optional(),
    status: z.enum(JOB_STATUSES).optional(),
    kind: z.enum(['backup', 'restore', 'verify', 'cleanup', 'all']).default('backup'),
    since: since.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  })
  .strict();

export const verifyBody = () =>
  z
  .object({
    mode: z.enum(['read-data', 'structure', 'subset']).default('read-data'),
    percent: z.number().int().min(1).max(100).optional(),
    restore_test: z.boolean().optional(),
    target: targetEnum().optional(),
  })
  .strict();

/**
 * `/api/v1/backup`: the server never runs a backup itself. It records the job,
 * triggers the on-demand workflow, and answers at once with the job id.
 */
export function backupRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/create', describe({ operationId: 'createBackup', summary: 'Start a backup of one or more targets', answers: 'job' }), requireRole('operator'), jsonBody(createBackupBody()), async (c) => {
    const body = c.req.valid('json');
    checkSourcePaths(deps, body);
    const request = { ...body, ...sourceDefaults(deps, body.targets, body) };
    const job = await dispatchJob(deps, {
      kind: 'backup',
      type: body.type,
      targets: body.targets,
      description: body.description,
      retentionDays: body.retention_days,
      request,
    });
    return c.json({ job_id: job.id, status: 'queued' }, 202);
  });

  // Status is polled (dashboards, monitors, the CLI): computed at most once a second, shared by concurrent callers.
  const status = cached(deps.settings?.statusCacheMs ?? 1000, async () => {
    const [summary, stuck, schedules] = await Promise.all([
      statusSummary(deps.catalog),
      stuckJobs(deps.catalog, deps.settings?.stuckMinutes ?? 30),
      listSchedules(deps.catalog),
    ]);
    return {
      status: stuck.length === 0 && summary.failed_24h === 0 ? 'ok' : 'attention',
      ...summary,
      stuck: stuck.map((j) => ({ id: j.id, kind: j.kind, targets: j.targets, heartbeat_at: j.heartbeat_at ?? j.started_at })),
      schedules: { total: schedules.length, enabled: schedules.filter((s) => s.enabled).length },
    };
  });
  app.get('/status', describe({ operationId: 'getBackupStatus', summary: 'Job counts, running and stuck jobs, the last success per target', answers: 'json' }), requireRole('viewer'), queryOf(statusQuery), async (c) => {
    const verbose = c.req.valid('query').verbose === 'true';
    return c.json({ ...(await status()), ...(verbose ? { recent: (await listJobs(deps.catalog, { limit: 10, offset: 0 })).jobs.map(brief) } : {}) });
  });

  app.get('/list', describe({ operationId: 'listJobs', summary: 'Jobs, newest first, filtered and paged', answers: 'json' }), requireRole('viewer'), queryOf(listQuery()), async (c) => {
    const q = c.req.valid('query');
    const { total, jobs } = await listJobs(deps.catalog, { ...q, kind: q.kind === 'all' ? undefined : q.kind });
    return c.json({
      total,
      limit: q.limit,
      offset: q.offset,
      next_offset: q.offset + jobs.length < total ? q.offset + jobs.length : null,
      jobs: jobs.map((j) => ({ ...brief(j), snapshots: j.steps })),
    });
  });

  app.post('/verify/:id', describe({ operationId: 'verifyBackup', summary: 'Verify a backup job\'s snapshots, one snapshot, or the latest of a target', answers: 'job', params: { id: 'a job id, a snapshot id, or latest (with body.target)' } }), requireRole('operator'), jsonBody(verifyBody()), async (c) => {
    const id = c.req.param('id');
    const body = c.req.valid('json');
    const snapshots = await snapshotsToVerify(deps, id, body.target);
    const mode = body.mode === 'read-data' ? 'readData' : body.mode;
    const job = await dispatchJob(deps, {
      kind: 'verify',
      targets: [...new Set(snapshots.map((s) => s.target).filter(Boolean))],
      description: `verify ${id}`,
      request: { snapshots, mode, percent: body.percent ?? 10, restore_test: body.restore_test === true },
    });
    return c.json({ job_id: job.id, status: 'queued', snapshots }, 202);
  });
  return app;
}

/** The snapshots a verify call means: a backup job's, one snapshot, or the latest (of a target). */
async function snapshotsToVerify(deps: AppDeps, id: string, target?: string): Promise<{ snapshot: string; target: string }[]> {
  if (id === 'latest') return [{ snapshot: 'latest', target: target ?? '' }];
  if (/^[0-9a-f]{8,64}$/.test(id)) return [{ snapshot: id, target: target ?? '' }];
  const job = await getJob(deps.catalog, jobIdParam(id));
  if (!job) throw new ApiError(404, `no job or snapshot ${id}`);
  if (job.kind !== 'backup') throw new ApiError(409, `job ${id} is a ${job.kind} job; only backups are verified`);
  const snapshots = job.steps
    .filter((s) => s.status === 'completed' && s.snapshot_id && (!target || s.target === target))
    .map((s) => ({ snapshot: String(s.snapshot_id), target: s.target }));
  if (snapshots.length === 0) throw new ApiError(409, `backup job ${id} (${job.status}) has no snapshots${target ? ` of ${target}` : ''} to verify`);
  return snapshots;
}

function brief(j: Job): Record<string, unknown> {
  return {
    id: j.id,
    kind: j.kind,
    type: j.type,
    targets: j.targets,
    status: j.status,
    description: j.description,
    progress: j.progress,
    error: j.error,
    created_at: j.created_at,
    finished_at: j.finished_at,
    restart_of: j.restart_of,
  };
}
