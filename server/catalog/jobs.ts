import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';

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
  job: { kind: JobKind; type?: string; targets?: string[]; description?: string; retentionDays?: number; params?: Record<string, unknown>; id?: string },
): Promise<Job> {
  const res = await db.query<Job>(
    `INSERT INTO jobs (id, kind, type, targets, status, description, retention_days, params)
     VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7) RETURNING *`,
    [job.id ?? newJobId(), job.kind, job.type ?? null, job.targets ?? [], job.description ?? null, job.retentionDays ?? null, job.params ?? {}],
  );
  return res.rows[0];
}

export async function getJob(db: Pool, id: string): Promise<(Job & { steps: (JobStep & { recorded_at: Date })[] }) | null> {
  const job = (await db.query<Job>('SELECT * FROM jobs WHERE id = $1', [id])).rows[0];
  if (!job) return null;
  const steps = (await db.query<JobStep & { recorded_at: Date }>(
    `SELECT target, status, snapshot_id, bytes_read::float8 AS bytes_read, bytes_added::float8 AS bytes_added,
            bytes_stored::float8 AS bytes_stored, duration_ms::float8 AS duration_ms, error, details, recorded_at
       FROM job_steps WHERE job_id = $1 ORDER BY id`,
    [id],
  )).rows;
  return { ...job, steps };
}

/** The job, created when a run the server did not start (a schedule) reports in under a new id. */
export async function ensureJob(db: Pool, id: string, kind: JobKind, description?: string): Promise<void> {
  await db.query(
    `INSERT INTO jobs (id, kind, status, description) VALUES ($1, $2, 'queued', $3) ON CONFLICT (id) DO NOTHING`,
    [id, kind, description ?? null],
  );
}

/** Links a job to the n8n execution running it (the webhook answers with the execution id). */
export async function attachExecution(db: Pool, id: string, executionId: string): Promise<void> {
  await db.query('UPDATE jobs SET n8n_execution_id = $2 WHERE id = $1', [id, executionId]);
}

/** A job starts running, or shows it still is (a heartbeat); finished jobs stay finished. */
export async function markRunning(db: Pool, id: string, progress?: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(),
            progress = coalesce($2, progress)
      WHERE id = $1 AND status IN ('queued', 'running')`,
    [id, progress ?? null],
  );
  return res.rowCount === 1;
}

export async function recordStep(db: Pool, id: string, step: JobStep): Promise<void> {
  await db.query(
    `INSERT INTO job_steps (job_id, target, status, snapshot_id, bytes_read, bytes_added, bytes_stored, duration_ms, error, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [id, step.target, step.status, step.snapshot_id ?? null, step.bytes_read ?? null, step.bytes_added ?? null, step.bytes_stored ?? null,
      step.duration_ms ?? null, step.error ?? null, step.details ?? {}],
  );
  await db.query(`UPDATE jobs SET heartbeat_at = now() WHERE id = $1`, [id]);
}

/** Ends a job; a job that already ended keeps its first outcome (a late success never hides a failure). */
export async function finishJob(db: Pool, id: string, outcome: { status: 'completed' | 'failed' | 'cancelled'; error?: string }): Promise<boolean> {
  const res = await db.query(
    `UPDATE jobs SET status = $2, error = $3, finished_at = now(), heartbeat_at = now(),
            progress = CASE WHEN $2 = 'completed' THEN 1 ELSE progress END
      WHERE id = $1 AND status IN ('queued', 'running')`,
    [id, outcome.status, outcome.error ?? null],
  );
  return res.rowCount === 1;
}

/** Marks the job an n8n execution was running as failed (what the error workflow knows is the execution id). */
export async function failJobOfExecution(db: Pool, executionId: string, error: string): Promise<string | null> {
  const res = await db.query<{ id: string }>(
    `UPDATE jobs SET status = 'failed', error = $2, finished_at = now()
      WHERE n8n_execution_id = $1 AND status IN ('queued', 'running') RETURNING id`,
    [executionId, error],
  );
  return res.rows[0]?.id ?? null;
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
