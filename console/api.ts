/**
 * The API as the console calls it: same origin, the session cookie, and the
 * session's CSRF token on every call that changes something. Errors come back
 * as the API words them.
 */
export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  name: string;
  role: Role;
  csrf: string;
}

let me: Me | null = null;

export const session = {
  get me(): Me | null {
    return me;
  },
  can(role: Role): boolean {
    const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
    return me !== null && rank[me.role] >= rank[role];
  },
};

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && me) headers['x-dbm-csrf'] = me.csrf;
  const res = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = (await res.json().catch(() => ({}))) as { error?: { message?: string; field?: string } };
  if (!res.ok) {
    if (res.status === 401 && me && url !== '/ui/session') {
      me = null;
      window.dispatchEvent(new Event('dbm:logged-out'));
    }
    throw new ApiFailure(answer.error?.message ?? `${method} ${url}: HTTP ${res.status}`, res.status, answer.error?.field);
  }
  return answer as T;
}

export const api = {
  get: <T>(url: string): Promise<T> => call<T>('GET', url),
  post: <T>(url: string, body: unknown = {}): Promise<T> => call<T>('POST', url, body),
  async login(token: string): Promise<Me> {
    me = await call<Me>('POST', '/ui/session', { token });
    return me;
  },
  async resume(): Promise<Me | null> {
    try {
      me = await call<Me>('GET', '/ui/session');
    } catch {
      me = null;
    }
    return me;
  },
  async logout(): Promise<void> {
    await call('DELETE', '/ui/session').catch(() => undefined);
    me = null;
  },
};

/** A query string from the filled-in fields. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
