import type { Context } from 'hono';
import type { AppEnv } from './context';

/** The socket's peer address, without the IPv4-mapped prefix; null when the request came in without one (tests). */
function socketAddress(c: Context<AppEnv>): string | null {
  const a = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? null;
  return a?.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * Who called: the socket's address. X-Forwarded-For is believed only when the
 * socket is a trusted proxy (DBM_TRUSTED_PROXIES), and then only its last
 * address that is not itself a trusted proxy: anything left of it is what the
 * client claimed.
 */
export function clientAddress(c: Context<AppEnv>, trusted: string[]): string | null {
  const socket = socketAddress(c);
  if (!socket || !trusted.includes(socket)) return socket;
  const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  for (let i = chain.length - 1; i >= 0; i--) if (!trusted.includes(chain[i])) return chain[i];
  return socket;
}

/**
 * The origin the browser sees: this server's own, or, behind a trusted proxy
 * (one terminating TLS in front of plain HTTP, say), the one its
 * X-Forwarded-Proto and X-Forwarded-Host say. The console's session compares
 * a request's Origin with it, and marks its cookie Secure when it is https.
 */
export function requestOrigin(c: Context<AppEnv>, trusted: string[]): string {
  const own = new URL(c.req.url);
  const socket = socketAddress(c);
  if (!socket || !trusted.includes(socket)) return own.origin;
  const first = (h: string): string | undefined => c.req.header(h)?.split(',')[0].trim() || undefined;
  const proto = first('x-forwarded-proto');
  const host = first('x-forwarded-host') ?? c.req.header('host') ?? own.host;
  return proto === 'https' || proto === 'http' ? `${proto}://${host}` : own.origin;
}
