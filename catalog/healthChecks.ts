import type { Pool } from 'pg';

/** One problem the monitor found: its kind (stuck_job, failed_job, missed_schedule, wal_gap …) and what to tell people. */
export interface HealthProblem {
  kind: string;
  message: string;
  [detail: string]: unknown;
}

export interface HealthCheck {
  checked_at: Date;
  ok: boolean;
  problems: HealthProblem[];
}

const KEEP = 500;

/** Records what the monitor found, keeping the newest few hundred checks. */
export async function recordHealthCheck(db: Pool, problems: HealthProblem[]): Promise<void> {
  await db.query('INSERT INTO health_checks (ok, problems) VALUES ($1, $2)', [problems.length === 0, JSON.stringify(problems)]);
  await db.query('DELETE FROM health_checks WHERE id <= (SELECT id FROM health_checks ORDER BY id DESC OFFSET $1 LIMIT 1)', [KEEP]);
}

/** The monitor's newest finding. */
export async function latestHealthCheck(db: Pool): Promise<HealthCheck | null> {
  const row = (await db.query<HealthCheck>('SELECT checked_at, ok, problems FROM health_checks ORDER BY id DESC LIMIT 1')).rows[0];
  return row ?? null;
}
