import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { targetNames } from '../engine/targets/registry';

/** Jobs in the catalog: what was asked, how it went, per target. */
export type JobKind = 'backup' | 'restore' | 'verify' | 'cleanup';
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  kind: JobKind;
  type: string | null;
  targets: string[];
  status: JobStatus;
  description: string | null;
  retention_days: number | null;
  params: Record<string, unknown>;
  progress: number;
  error: string | null;
  n8n_execution_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  heartbeat_at: Date | null;
  restart_of: string | null;
  /** the n8n process that ran it (`main@host`, `worker-2@host`), from its claim */
  runner: string | null;
  /** running targets' progress: bytes read so far, files */
  live: Record<string, { bytes_read: number; files?: number }>;
}

export interface JobStep {
  target: string;
  status: 'completed' | 'failed';
  snapshot_id?: string | null;
  bytes_read?: number | null;
  bytes_added?: number | null;
  bytes_stored?: number | null;
  duration_ms?: number | null;
  error?: string | null;
  details?: Record<string, unknown>;
}

export function newJobId(): string {
  return `job_${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
}

export async function createJob(
  db: Pool,
  job: {
    kind: JobKind;
    type?: string | null;
    targets?: string[];
    description?: string | null;
    retentionDays?: number | null;
    params?: Record<string, unknown>;
    id?: string;
    restartOf?: string;
    /** the one-time claim the workflow must present to take the job (only its hash is kept) */
    claim?: string;
  },
): Promise<Job> {
  const res = await db.query<Job>(
    `INSERT INTO jobs (id, kind, type, targets, status, description, retention_days, params, restart_of, claim_hash)
     VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9) RETURNING *`,
    [job.id ?? newJobId(), job.kind, job.type ?? null, job.targets ?? [], job.description ?? null, job.retentionDays ?? null, job.params ?? {}, job.restartOf ?? null,
      job.claim ? claimHash(job.claim) : null],
  );
  const created = res.rows[0];
  const what = [created.kind, created.type, created.targets.join(',')].filter(Boolean).join(' ');
  await appendJobLog(db, created.id, 'info', `queued: ${what}${job.restartOf ? ` (restart of ${job.restartOf})` : ''}`);
  return created;
}

/** A new one-time claim for a job: what the server sends the workflow instead of the request itself. */
export function newClaim(): string {
  return randomBytes(32).toString('base64url');
}

function claimHash(claim: string): string {
  return createHash('sha256').update(claim).digest('hex');
}

export class ClaimRefused extends Error {}

/**
 * A workflow takes the job the server recorded: once, with the claim the server sent, while the job is
 * still queued. The claim is cleared as it is used, so a captured webhook call cannot be replayed, and
 * the workflow runs what the catalog says, not what the call says. Answers the job (its request in params).
 */
export async function claimJob(db: Pool, id: string, claim: string, executionId: string, runner: string | null = null): Promise<Job> {
  const res = await db.query<Job>(
    `UPDATE jobs SET claim_hash = NULL, claimed_at = now(), n8n_execution_id = $3, runner = $4,
            status = 'running', started_at = now(), heartbeat_at = now()
      WHERE id = $1 AND claim_hash = $2 AND status = 'queued' RETURNING *`,
    [id, claimHash(claim), executionId, runner],
  );
  const job = res.rows[0];
  if (!job) throw new ClaimRefused(`job ${JSON.stringify(id.slice(0, 100))} cannot be claimed: it is unknown, already started, or the claim does not match`);
  await appendJobLog(db, id, 'info', `running (n8n execution ${executionId}${runner ? ` on ${runner}` : ''})`);
  return job;
}

/** One line of a job's log. */
export async function appendJobLog(db: Pool, id: string, level: 'info' | 'warn' | 'error', message: string): Promise<void> {
  await db.query('INSERT INTO job_log (job_id, level, message) VALUES ($1, $2, $3)', [id, level, message.slice(0, 4000)]);
}

export interface JobLogLine {
  id: string;
  job_id: string;
  at: Date;
  level: string;
  message: string;
}

export async function jobLog(db: Pool, id: string): Promise<JobLogLine[]> {
  return (await db.query<JobLogLine>('SELECT id::text, job_id, at, level, message FROM job_log WHERE job_id = $1 ORDER BY id', [id])).rows;
}

export async function getJob(db: Pool, id: string): Promise<(Job & { steps: (JobStep & { recorded_at: Date })[] }) | null> {
  const job = (await db.query<Job & { claim_hash?: string }>('SELECT * FROM jobs WHERE id = $1', [id])).rows[0];
  if (!job) return null;
  delete job.claim_hash; // a hash, but nobody's business
  const steps = (await db.query<JobStep & { recorded_at: Date }>(
    `SELECT target, status, snapshot_id, bytes_read::float8 AS bytes_read, bytes_added::float8 AS bytes_added,
            bytes_stored::float8 AS bytes_stored, duration_ms::float8 AS duration_ms, error, details, recorded_at
       FROM job_steps WHERE job_id = $1 ORDER BY id`,
    [id],
  )).rows;
  return { ...job, steps };
}

/** The job, created when a run the server did not start (a schedule) reports in under a new id. */
export async function ensureJob(
  db: Pool,
  id: string,
  kind: JobKind,
  seen: { description?: string; type?: string; targets?: string[] } = {},
): Promise<void> {
  const type = seen.type && ['full', 'incremental', 'differential'].includes(seen.type) ? seen.type : null;
  const res = await db.query(
    `INSERT INTO jobs (id, kind, status, description, type, targets) VALUES ($1, $2, 'queued', $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [id, kind, seen.description ?? null, type, seen.targets ?? []],
  );
  if (res.rowCount === 1) await appendJobLog(db, id, 'info', `queued: ${seen.description ?? kind}`);
}

/** Links a job to the n8n execution running it (the webhook answers with the execution id). */
export async function attachExecution(db: Pool, id: string, executionId: string, runner: string | null = null): Promise<void> {
  await db.query('UPDATE jobs SET n8n_execution_id = $2, runner = coalesce($3, runner) WHERE id = $1', [id, executionId, runner]);
}

/** A job starts running, or shows it still is (a heartbeat); finished jobs stay finished. */
export async function markRunning(db: Pool, id: string, progress?: number): Promise<boolean> {
  const res = await db.query<{ was: string }>(
    `UPDATE jobs j SET status = 'running', started_at = coalesce(j.started_at, now()), heartbeat_at = now(),
            progress = coalesce($2, j.progress)
       FROM (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE) prev
      WHERE j.id = prev.id AND j.status IN ('queued', 'running') RETURNING prev.status AS was`,
    [id, progress ?? null],
  );
  if (res.rows[0]?.was === 'queued') await appendJobLog(db, id, 'info', 'running');
  return res.rowCount === 1;
}

/** A running target's progress so far (also a heartbeat); a job that ended takes no more. */
export async function reportLive(db: Pool, id: string, target: string, live: { bytes_read: number; files?: number }): Promise<void> {
  await db.query(`UPDATE jobs SET live = live || jsonb_build_object($2::text, $3::jsonb), heartbeat_at = now() WHERE id = $1 AND status = 'running'`, [id, target, live]);
}

export async function recordStep(db: Pool, id: string, step: JobStep): Promise<void> {
  await db.query(
    `INSERT INTO job_steps (job_id, target, status, snapshot_id, bytes_read, bytes_added, bytes_stored, duration_ms, error, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [id, step.target, step.status, step.snapshot_id ?? null, step.bytes_read ?? null, step.bytes_added ?? null, step.bytes_stored ?? null,
      step.duration_ms ?? null, step.error ?? null, step.details ?? {}],
  );
  // Progress: the share of the job's targets that have reported.
  await db.query(
    `UPDATE jobs SET heartbeat_at = now(),
            progress = CASE WHEN status = 'running' AND cardinality(targets) > 0
              THEN least(0.99, (SELECT count(DISTINCT target) FROM job_steps WHERE job_id = $1)::real / cardinality(targets)) ELSE progress END
      WHERE id = $1`,
    [id],
  );
  const size = step.bytes_read == null ? '' : `, ${step.bytes_read} bytes read, ${step.bytes_added ?? 0} added`;
  await appendJobLog(
    db,
    id,
    step.status === 'failed' ? 'error' : 'info',
    `${step.target}: ${step.status}${step.snapshot_id ? ` (snapshot ${step.snapshot_id.slice(0, 12)}${size})` : ''}${step.error ? `: ${step.error}` : ''}`,
  );
}

/** Ends a job; a job that already ended keeps its first outcome (a late success never hides a failure). */
export async function finishJob(db: Pool, id: string, outcome: { status: 'completed' | 'failed' | 'cancelled'; error?: string }): Promise<boolean> {
  const res = await db.query(
    `UPDATE jobs SET status = $2, error = $3, finished_at = now(), heartbeat_at = now(),
            progress = CASE WHEN $2 = 'completed' THEN 1 ELSE progress END
      WHERE id = $1 AND status IN ('queued', 'running')`,
    [id, outcome.status, outcome.error ?? null],
  );
  if (res.rowCount === 1) await appendJobLog(db, id, outcome.status === 'failed' ? 'error' : 'info', `${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}`);
  return res.rowCount === 1;
}

/** Marks the job an n8n execution was running as failed (what the error workflow knows is the execution id). */
export async function failJobOfExecution(db: Pool, executionId: string, error: string): Promise<string | null> {
  const res = await db.query<{ id: string }>(
    `UPDATE jobs SET status = 'failed', error = $2, finished_at = now()
      WHERE n8n_execution_id = $1 AND status IN ('queued', 'running') RETURNING id`,
    [executionId, error],
  );
  const id = res.rows[0]?.id ?? null;
  if (id) await appendJobLog(db, id, 'error', `failed: ${error}`);
  return id;
}

/** Jobs that have not ended, with the n8n execution running them (null before a workflow claimed them). */
export async function unfinishedJobs(db: Pool): Promise<Pick<Job, 'id' | 'kind' | 'status' | 'n8n_execution_id' | 'created_at'>[]> {
  return (await db.query(`SELECT id, kind, status, n8n_execution_id, created_at FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at`)).rows;
}

/**
 * Ends as failed every job an n8n execution was running (n8n itself stopped: in one process, every
 * execution ends with it), or, given a runner, those that runner was running (one queue-mode worker
 * stopped; the others go on). Answers the ids.
 */
export async function failRunningExecutions(db: Pool, error: string, runner?: string): Promise<string[]> {
  const res = await db.query<{ id: string }>(
    `UPDATE jobs SET status = 'failed', error = $1, finished_at = now()
      WHERE status IN ('queued', 'running') AND n8n_execution_id IS NOT NULL AND ($2::text IS NULL OR runner = $2) RETURNING id`,
    [error, runner ?? null],
  );
  for (const { id } of res.rows) await appendJobLog(db, id, 'error', `failed: ${error}`);
  return res.rows.map((r) => r.id);
}

/** Jobs still "running" whose last sign of life is older than `minutes`. */
export async function stuckJobs(db: Pool, minutes: number): Promise<Job[]> {
  return (
    await db.query<Job>(
      `SELECT * FROM jobs WHERE status = 'running'
          AND coalesce(heartbeat_at, started_at, created_at) < now() - make_interval(mins => $1) ORDER BY created_at`,
      [minutes],
    )
  ).rows;
}

/** Jobs that failed within the last `hours`. */
export async function recentFailures(db: Pool, hours: number): Promise<Job[]> {
  return (
    await db.query<Job>(`SELECT * FROM jobs WHERE status = 'failed' AND finished_at > now() - make_interval(hours => $1) ORDER BY finished_at DESC`, [hours])
  ).rows;
}

export interface JobFilter {
  kind?: JobKind;
  target?: string;
  type?: string;
  status?: JobStatus;
  since?: Date;
  limit: number;
  offset: number;
}

/** Jobs, newest first, filtered, one page; with the total that matched. */
export async function listJobs(db: Pool, f: JobFilter): Promise<{ total: number; jobs: (Job & { steps: StepSummary[] })[] }> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, value: unknown): void => {
    args.push(value);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (f.kind) add('kind = ?', f.kind);
  if (f.target) add('? = ANY (targets)', f.target);
  if (f.type) add('type = ?', f.type);
  if (f.status) add('status = ?', f.status);
  if (f.since) add('created_at >= ?', f.since);
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  // the count and the page (with each job's steps) at once: two queries in parallel, not three in turn
  const [count, page] = await Promise.all([
    db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs ${clause}`, args),
    db.query<Job & { steps: StepSummary[] }>(
      `SELECT page.*, coalesce((SELECT json_agg(json_build_object('target', s.target, 'status', s.status, 'snapshot_id', s.snapshot_id,
                                                               'bytes_added', s.bytes_added) ORDER BY s.id)
                                  FROM job_steps s WHERE s.job_id = page.id), '[]') AS steps
         FROM (SELECT * FROM jobs ${clause} ORDER BY created_at DESC, id DESC LIMIT $${args.length + 1} OFFSET $${args.length + 2}) page
        ORDER BY page.created_at DESC, page.id DESC`,
      [...args, f.limit, f.offset],
    ),
  ]);
  return { total: Number(count.rows[0].n), jobs: page.rows };
}

/** A step as a list of jobs shows it. */
export interface StepSummary {
  target: string;
  status: string;
  snapshot_id: string | null;
  bytes_added: number | null;
}

export interface StatusSummary {
  jobs: Record<JobStatus, number>;
  running: Pick<Job, 'id' | 'kind' | 'targets' | 'progress' | 'started_at' | 'heartbeat_at'>[];
  last_success: { target: string; job_id: string; snapshot_id: string | null; at: Date; bytes_added: number | null }[];
  last_failure: Pick<Job, 'id' | 'kind' | 'targets' | 'error' | 'finished_at'> | null;
  failed_24h: number;
}

/** What `status` shows, from the catalog alone (cheap enough to poll). */
export async function statusSummary(db: Pool): Promise<StatusSummary> {
  const [counts, running, last, failure, failed] = await Promise.all([
    db.query<{ status: JobStatus; n: string }>('SELECT status, count(*) AS n FROM jobs GROUP BY status'),
    db.query(`SELECT id, kind, targets, progress, started_at, heartbeat_at FROM jobs WHERE status IN ('running', 'queued') ORDER BY created_at LIMIT 20`),
    // per target, its newest completed backup step: one index probe each (the targets are few and known)
    db.query(
      `SELECT t.target, s.job_id, s.snapshot_id, s.recorded_at AS at, s.bytes_added::float8 AS bytes_added
         FROM unnest($1::text[]) AS t (target)
         CROSS JOIN LATERAL (
           SELECT job_id, snapshot_id, recorded_at, bytes_added FROM job_steps s JOIN jobs j ON j.id = s.job_id AND j.kind = 'backup'
            WHERE s.target = t.target AND s.status = 'completed' ORDER BY s.recorded_at DESC LIMIT 1) s`,
      [targetNames()],
    ),
    db.query(`SELECT id, kind, targets, error, finished_at FROM jobs WHERE status = 'failed' ORDER BY finished_at DESC NULLS LAST LIMIT 1`),
    db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE status = 'failed' AND finished_at > now() - interval '24 hours'`),
  ]);
  const jobs = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const r of counts.rows) jobs[r.status] = Number(r.n);
  return {
    jobs,
    running: running.rows as StatusSummary['running'],
    last_success: last.rows as StatusSummary['last_success'],
    last_failure: (failure.rows[0] as StatusSummary['last_failure']) ?? null,
    failed_24h: Number(failed.rows[0].n),
  };
}
