import type { MiddlewareHandler } from 'hono';
import { findToken, type Role } from './catalog/tokens';
import type { AppEnv } from './context';
import { ApiError } from './errors';
import type { Pool } from 'pg';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Bearer-token authentication: every /api/v1 call names a live token. */
export function authenticate(db: Pool): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError(401, 'missing API token: send "Authorization: Bearer <token>"', 'authorization');
    const token = await findToken(db, match[1]);
    if (!token) throw new ApiError(401, 'the API token is not valid (unknown or revoked)', 'authorization');
    c.set('actor', { id: token.id, name: token.name, role: token.role });
    await next();
  };
}

/** Roles: viewer reads; operator also backs up, verifies and restores; admin also manages schedules, cleanup and tokens. */
export function requireRole(role: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = c.get('actor');
    if (RANK[actor.role] < RANK[role]) {
      throw new ApiError(403, `${c.req.method} ${c.req.path} needs the ${role} role; token "${actor.name}" is ${actor.role}`);
    }
    await next();
  };
}
