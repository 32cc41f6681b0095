import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod/v4';
import { findToken } from '../catalog/tokens';
import { requestOrigin } from './clientAddress';
import type { AppDeps, AppEnv } from './context';
import { jsonBody } from './describe';
import { ApiError } from './errors';

/**
 * The web console's login: a token given once is kept here, on the server,
 * under a random session id; the browser holds only that id, in a cookie it
 * cannot read from script (HttpOnly), sends to this origin only
 * (SameSite=Strict) and over TLS only when the server speaks it (Secure).
 * Requests that change anything must also carry the session's CSRF token in
 * a header, which a page of another origin can neither read nor set.
 *
 * Sessions live in this process's memory: a restart of the API logs everyone
 * out, and revoking the token ends its sessions at the next request (the
 * token is checked as a bearer token is).
 */
export const SESSION_COOKIE = 'dbm_session';
export const CSRF_HEADER = 'x-dbm-csrf';
const IDLE_MS = 8 * 3_600_000;
const MAX_SESSIONS = 1000;

interface Session {
  token: string;
  csrf: string;
  lastSeen: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  create(token: string): { id: string; csrf: string } {
    this.sweep();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!); // the oldest
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.sessions.set(id, { token, csrf, lastSeen: Date.now() });
    return { id, csrf };
  }

  /** The live session with this id (its idle time restarts), or null. */
  get(id: string | undefined): Session | null {
    const s = id ? this.sessions.get(id) : undefined;
    if (!s) return null;
    if (Date.now() - s.lastSeen > IDLE_MS) {
      this.sessions.delete(id!);
      return null;
    }
    s.lastSeen = Date.now();
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (now - s.lastSeen > IDLE_MS) this.sessions.delete(id);
  }
}

const sameSecret = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The bearer token a cookie stands for, for authenticate(): null without a
 * session. A request that changes anything must carry the session's CSRF
 * token, and, when the browser says where it comes from, come from this origin.
 */
export function sessionToken(c: Context<AppEnv>, sessions: SessionStore, trusted: string[]): string | null {
  const session = sessions.get(getCookie(c, SESSION_COOKIE));
  if (!session) return null;
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    refuseOtherOrigin(c, trusted, "may not use this console's session");
    if (!sameSecret(c.req.header(CSRF_HEADER) ?? '', session.csrf)) throw new ApiError(403, `missing or wrong ${CSRF_HEADER} header: a console session's changes need its CSRF token`, CSRF_HEADER);
  }
  return session.token;
}

/** A browser's request from a page of another site: refused, whatever it carries. */
function refuseOtherOrigin(c: Context<AppEnv>, trusted: string[], what: string): void {
  const origin = c.req.header('origin');
  if (origin && origin !== requestOrigin(c, trusted)) throw new ApiError(403, `a request from ${origin.slice(0, 200)} ${what}`);
}

const loginBody = z.object({ token: z.string().min(1).max(200) }).strict();

/** `/ui/session`: log in with a token (POST), who am I (GET), log out (DELETE). */
export function sessionRoutes(deps: AppDeps, sessions: SessionStore): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const trusted = deps.trustedProxies ?? [];
  const secure = (c: Context<AppEnv>): boolean => requestOrigin(c, trusted).startsWith('https:');

  app.post('/', jsonBody(loginBody), async (c) => {
    refuseOtherOrigin(c, trusted, 'is not a login this server accepts');
    const { token } = c.req.valid('json');
    const found = await findToken(deps.catalog, token);
    if (!found) throw new ApiError(401, 'the token is not valid (unknown or revoked)', 'token');
    sessions.end(getCookie(c, SESSION_COOKIE)); // a new login replaces the session this browser had
    const { id, csrf } = sessions.create(token);
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: 'Strict', secure: secure(c), path: '/' });
    c.set('actor', { id: found.id, name: found.name, role: found.role }); // for the audit log
    return c.json({ name: found.name, role: found.role, csrf });
  });

  app.get('/', async (c) => {
    const session = sessions.get(getCookie(c, SESSION_COOKIE));
    const found = session ? await findToken(deps.catalog, session.token) : null;
    if (!session || !found) throw new ApiError(401, 'not logged in');
    return c.json({ name: found.name, role: found.role, csrf: session.csrf });
  });

  app.delete('/', async (c) => {
    sessionToken(c, sessions, trusted); // the CSRF check: another site cannot log you out either
    sessions.end(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secure(c) });
    return c.json({ logged_out: true });
  });
  return app;
}
