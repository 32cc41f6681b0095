import { createHmac } from 'node:crypto';
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

export interface AuditRow extends AuditEntry {
  id: string;
  at: Date;
  prev_hash: string | null;
  hash: string | null;
}

/** Serialises audit writers so that each row's prev_hash is the row before it. */
const CHAIN_LOCK = 7_314_159_266;

/** JSON with sorted keys: jsonb does not keep key order, the hash must not depend on it. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * A row's link in the chain: an HMAC (keyed with the installation's audit key, which the catalog does
 * not hold) over the previous link and the row. Someone who can write the catalog but not read the
 * key can neither edit nor delete a row without `verifyAudit` noticing.
 */
function link(key: string, prev: string | null, id: string, at: Date, e: AuditEntry): string {
  const row = { id, at: at.toISOString(), actor: e.actor, role: e.role ?? null, method: e.method, path: e.path, remote: e.remote ?? null, status: e.status, outcome: e.outcome, details: e.details ?? {} };
  return createHmac('sha256', key).update(`${prev ?? ''}\n${canonical(row)}`).digest('hex');
}

export async function recordAudit(db: Pool, e: AuditEntry, key = ''): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
    const prev = (await client.query<{ hash: string }>('SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1')).rows[0]?.hash ?? null;
    const { id } = (await client.query<{ id: string }>("SELECT nextval('audit_log_id_seq')::text AS id")).rows[0];
    const at = new Date(); // milliseconds, as the hash sees it
    await client.query(
      `INSERT INTO audit_log (id, at, actor, role, method, path, remote, status, outcome, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [id, at, e.actor, e.role ?? null, e.method, e.path, e.remote ?? null, e.status, e.outcome, e.details ?? {}, prev, link(key, prev, id, at, e)],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Newest first: by time, then by the numeric id (rows of one millisecond keep their order). */
export async function listAudit(db: Pool, limit: number, offset: number): Promise<AuditRow[]> {
  return (
    await db.query<AuditRow>(
      `SELECT a.id::text AS id, a.at, a.actor, a.role, a.method, a.path, a.remote, a.status, a.outcome, a.details, a.prev_hash, a.hash
         FROM audit_log a ORDER BY a.at DESC, a.id DESC LIMIT $1 OFFSET $2`,
      [limit, offset],
    )
  ).rows;
}

export interface AuditVerification {
  ok: boolean;
  /** rows whose links were checked */
  checked: number;
  /** rows written before the chain existed (no hash) */
  unchained: number;
  /** the first row that breaks the chain, and how */
  broken?: { id: string; problem: string };
}

/**
 * Walks the chain in id order: a row whose hash does not match its content was edited; a row whose
 * prev_hash is not the hash of the row before it follows a deleted (or inserted) row.
 */
export async function verifyAudit(db: Pool, key = ''): Promise<AuditVerification> {
  const unchained = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log WHERE hash IS NULL')).rows[0].n);
  let prev: string | null = null;
  let after = '0';
  let checked = 0;
  for (;;) {
    const rows = (
      await db.query<AuditRow>(
        `SELECT a.id::text AS id, a.at, a.actor, a.role, a.method, a.path, a.remote, a.status, a.outcome, a.details, a.prev_hash, a.hash
           FROM audit_log a WHERE a.hash IS NOT NULL AND a.id > $1::bigint ORDER BY a.id LIMIT 1000`,
        [after],
      )
    ).rows;
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.prev_hash !== prev) return { ok: false, checked, unchained, broken: { id: r.id, problem: 'the row before it was deleted or altered (the chain does not link)' } };
      if (link(key, r.prev_hash, r.id, r.at, r) !== r.hash) return { ok: false, checked, unchained, broken: { id: r.id, problem: 'its content was edited (its hash does not match)' } };
      prev = r.hash;
      checked++;
    }
    after = rows[rows.length - 1].id;
  }
  return { ok: true, checked, unchained };
}
