/**
 * Whether an error means the catalog database cannot be reached (down,
 * restarting, refusing connections), as opposed to a bad query: the API
 * answers the first with a 503 that says so, not a 500.
 */
export function catalogUnavailable(err: unknown): string | null {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return null;
  const code = String(e.code ?? '');
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(code)) return code;
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (shut down, crash, starting up), 53300 (too many connections)
  if (/^08/.test(code) || /^57P0[123]$/.test(code) || code === '53300') return `SQLSTATE ${code}`;
  if (/Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message ?? '')) return e.message ?? 'connection lost';
  return null;
}
