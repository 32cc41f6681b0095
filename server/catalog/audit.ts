import type { Pool } from 'pg';

/** The audit log: who did what, when, from where, and how it went. */
export interface AuditEntry {
  actor: string;
  role?: string | null;
  method: string;
  path: string;
  remote?: string | null;
  status: number;
  outcome: 'ok' | 'refused' | 'failed';
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Pool, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (actor, role, method, path, remote, status, outcome, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [e.actor, e.role ?? null, e.method, e.path, e.remote ?? null, e.status, e.outcome, e.details ?? {}],
  );
}

export async function listAudit(db: Pool, limit: number, offset: number): Promise<(AuditEntry & { id: string; at: Date })[]> {
  return (
    await db.query<AuditEntry & { id: string; at: Date }>(
      'SELECT id::text, at, actor, role, method, path, remote, status, outcome, details FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2',
      [limit, offset],
    )
  ).rows;
}
