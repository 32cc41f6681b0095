import type { Pool } from 'pg';

/** Schedules: the catalog's record of each published scheduled-backup workflow. */
export interface Schedule {
  name: string;
  workflow_id: string;
  cron: string;
  type: string;
  targets: string[];
  retention_days: number | null;
  params: Record<string, unknown>;
  enabled: boolean;
  created_at: Date;
}

export async function insertSchedule(db: Pool, s: Omit<Schedule, 'created_at' | 'enabled'>): Promise<Schedule> {
  return (
    await db.query<Schedule>(
      `INSERT INTO schedules (name, workflow_id, cron, type, targets, retention_days, params) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [s.name, s.workflow_id, s.cron, s.type, s.targets, s.retention_days, s.params],
    )
  ).rows[0];
}

export async function getSchedule(db: Pool, name: string): Promise<Schedule | null> {
  return (await db.query<Schedule>('SELECT * FROM schedules WHERE name = $1', [name])).rows[0] ?? null;
}

export async function listSchedules(db: Pool): Promise<Schedule[]> {
  return (await db.query<Schedule>('SELECT * FROM schedules ORDER BY name')).rows;
}

export async function setScheduleEnabled(db: Pool, name: string, enabled: boolean): Promise<void> {
  await db.query('UPDATE schedules SET enabled = $2 WHERE name = $1', [name, enabled]);
}

/** The schedule's workflow was made again (in another n8n database): the catalog follows. */
export async function setScheduleWorkflow(db: Pool, name: string, workflowId: string): Promise<void> {
  await db.query('UPDATE schedules SET workflow_id = $2 WHERE name = $1', [name, workflowId]);
}

export async function deleteSchedule(db: Pool, name: string): Promise<void> {
  await db.query('DELETE FROM schedules WHERE name = $1', [name]);
}

/** The newest job a schedule's runs recorded (their ids are schedule-<name>-<execution>). */
export async function lastScheduledJob(db: Pool, name: string): Promise<{ id: string; status: string; created_at: Date; finished_at: Date | null; error: string | null } | null> {
  return (
    (
      await db.query(
        // exactly this schedule's: "a" must not match the runs of "a-b"
        `SELECT id, status, created_at, finished_at, error FROM jobs WHERE id ~ ('^schedule-' || $1 || '-[0-9]+$') ORDER BY created_at DESC LIMIT 1`,
        [name],
      )
    ).rows[0] ?? null
  );
}
