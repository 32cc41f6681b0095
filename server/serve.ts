import { serve, type ServerType } from '@hono/node-server';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from './app';
import type { TlsFiles } from './tls';

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

/** The API on a port: HTTP, or HTTPS with TLS 1.3 at least when given a certificate. */
export async function startApiServer(deps: AppDeps, opts: { port: number; host?: string; tls?: TlsFiles }): Promise<ApiServer> {
  const app = createApp(deps);
  const host = opts.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: opts.port,
        hostname: host,
        ...(opts.tls ? { createServer: createHttpsServer, serverOptions: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.3' as const } } : {}),
      },
      () => resolve(s),
    );
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${opts.port} is in use (set DBM_PORT to another)`) : err),
    );
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${shown}:${port}`,
    close: () =>
      new Promise((resolve) => {
        const http = server as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
        // A client polling on a keep-alive connection (a CLI following a job) keeps it busy, and close()
        // waits for every connection: idle ones go now, busy ones after a grace for their request.
        const force = setTimeout(() => http.closeAllConnections?.(), 2000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        http.closeIdleConnections?.();
      }),
  };
}
