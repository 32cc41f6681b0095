import type { MiddlewareHandler } from 'hono';
import { findToken, type Role } from '../catalog/tokens';
import type { Actor, AppEnv } from './context';
import { documented } from './describe';
import { ApiError } from './errors';
import { sessionToken, type SessionStore } from './session';
import type { Pool } from 'pg';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAtLeast(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/**
 * Live tokens seen in the last few seconds, so a polled route costs no
 * catalog query for its token. Revoking through this server forgets at once;
 * a token revoked elsewhere works here for at most `ttlMs` more.
 */
export class TokenCache {
  private readonly seen = new Map<string, { actor: Actor; at: number }>();

  constructor(private readonly ttlMs = 5000) {}

  get(token: string): Actor | null {
    const hit = this.seen.get(token);
    if (!hit || Date.now() - hit.at > this.ttlMs) return null;
    return hit.actor;
  }

  set(token: string, actor: Actor): void {
    if (this.seen.size > 1000) this.seen.clear();
    this.seen.set(token, { actor, at: Date.now() });
  }

  clear(): void {
    this.seen.clear();
  }
}

/**
 * Authentication: every /api/v1 call names a live token, as a bearer token or
 * through the web console's session cookie (which stands for one; see session.ts).
 */
export function authenticate(db: Pool, cache: TokenCache, sessions?: { store: SessionStore; trustedProxies: string[] }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const bearer = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    const given = bearer ?? (header === undefined && sessions ? sessionToken(c, sessions.store, sessions.trustedProxies) : null);
    if (!given) throw new ApiError(401, 'missing API token: send "Authorization: Bearer <token>"', 'authorization');
    let actor = cache.get(given);
    if (!actor) {
      const token = await findToken(db, given);
      if (!token) throw new ApiError(401, 'the API token is not valid (unknown or revoked)', 'authorization');
      actor = { id: token.id, name: token.name, role: token.role };
      cache.set(given, actor);
    }
    c.set('actor', actor);
    await next();
  };
}

/** Roles: viewer reads; operator also backs up, verifies and restores; admin also manages schedules, cleanup and tokens. */
export function requireRole(role: Role): MiddlewareHandler<AppEnv> {
  const check: MiddlewareHandler<AppEnv> = async (c, next) => {
    const actor = c.get('actor');
    if (!roleAtLeast(actor.role, role)) {
      throw new ApiError(403, `${c.req.method} ${c.req.path} needs the ${role} role; token "${actor.name}" is ${actor.role}`);
    }
    await next();
  };
  return documented(check, { role }); // the OpenAPI document reads the role from here
}
