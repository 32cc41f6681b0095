import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';

/** API tokens: bearer secrets of which only a SHA-256 is kept. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** Tokens are long random strings, so a fast hash is enough (nothing to brute-force). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newToken(): string {
  return `dbm_${randomBytes(32).toString('base64url')}`;
}

/** Stores a token (a new random one unless given) and answers it: the only time it is seen. */
export async function createToken(db: Pool, opts: { name: string; role: Role; token?: string }): Promise<{ info: TokenInfo; token: string }> {
  const token = opts.token ?? newToken();
  const id = `tok_${randomBytes(6).toString('hex')}`;
  const res = await db.query<TokenInfo>(
    `INSERT INTO api_tokens (id, name, role, token_hash) VALUES ($1, $2, $3, $4)
     RETURNING id, name, role, created_at, last_used_at, revoked_at`,
    [id, opts.name, opts.role, hashToken(token)],
  );
  return { info: res.rows[0], token };
}

/** The live token a bearer secret names, or null. */
export async function findToken(db: Pool, token: string): Promise<TokenInfo | null> {
  const row = (
    await db.query<TokenInfo>(
      'SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL',
      [hashToken(token)],
    )
  ).rows[0];
  if (!row) return null;
  // last use to the minute: one write a minute per token, not one per request
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    db.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [row.id]).catch(() => undefined);
  }
  return row;
}

export async function listTokens(db: Pool): Promise<TokenInfo[]> {
  return (await db.query<TokenInfo>('SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY created_at')).rows;
}

export async function revokeToken(db: Pool, id: string): Promise<boolean> {
  return (await db.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id])).rowCount === 1;
}

export async function countTokens(db: Pool): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM api_tokens')).rows[0].n);
}
