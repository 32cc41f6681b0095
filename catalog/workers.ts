import type { Pool } from 'pg';

/** How often a stack reports its workers; a report three beats old makes the worker silent (down). */
export const HEARTBEAT_MS = 10_000;

/** Queue mode's n8n workers, as the stacks that run them report them (see stack/workerHeartbeat.ts). */
export interface WorkerRow {
  name: string;
  host: string;
  alive: boolean;
  health_url: string | null;
  heartbeat_at: Date;
  /** the jobs it runs now */
  running: number;
}

/** A worker silent this long is taken off the list (by any stack's next report): its host is gone for good, or was removed without stopping it. */
const FORGET_AFTER = '1 day';

export async function reportWorkers(db: Pool, workers: { name: string; host: string; alive: boolean; healthUrl: string }[]): Promise<void> {
  await db.query(`DELETE FROM workers WHERE heartbeat_at < now() - interval '${FORGET_AFTER}'`);
  for (const w of workers) {
    await db.query(
      `INSERT INTO workers (name, host, alive, health_url, heartbeat_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (name) DO UPDATE SET host = excluded.host, alive = excluded.alive, health_url = excluded.health_url, heartbeat_at = now()`,
      [w.name, w.host, w.alive, w.healthUrl],
    );
  }
}

/** Workers stopped on purpose leave the list; those that go silent stay, and show as such. */
export async function removeWorkers(db: Pool, names: string[]): Promise<void> {
  await db.query('DELETE FROM workers WHERE name = ANY($1)', [names]);
}

export async function listWorkers(db: Pool): Promise<WorkerRow[]> {
  return (
    await db.query<WorkerRow>(
      `SELECT w.*, (SELECT count(*)::int FROM jobs j WHERE j.status = 'running' AND j.runner = w.name) AS running
         FROM workers w ORDER BY w.name`,
    )
  ).rows;
}
