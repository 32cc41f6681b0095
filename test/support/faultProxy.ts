import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does to one request. */
export type Fault = 'pass' | 'error500' | 'slowDown' | 'reset' | 'stall' | 'truncate' | 'preconditionFailed';

export interface FaultProxy {
  /** the proxy's endpoint, for the S3 client */
  url: string;
  /** decides each request's fault; n counts requests from 1 */
  plan: (req: { method: string; url: string; n: number; headers: IncomingMessage['headers'] }) => Fault;
  /** how many requests met each fault */
  counts: Record<Fault, number>;
  close(): Promise<void>;
}

const S3_ERROR = (code: string, message: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`;

/**
 * A small HTTP proxy in front of a real S3 endpoint that injects the faults object stores show:
 * 500s, 503 SlowDown, connections reset, responses that never come, and bodies cut short. The
 * request's Host header is passed on unchanged, so the client's signatures still verify.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const held: ServerResponse[] = [];
  let n = 0;
  const proxy: FaultProxy = {
    url: '',
    plan: () => 'pass',
    counts: { pass: 0, error500: 0, slowDown: 0, reset: 0, stall: 0, truncate: 0, preconditionFailed: 0 },
    close: async () => {
      for (const res of held) res.socket?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const fault = proxy.plan({ method: req.method ?? 'GET', url: req.url ?? '/', n: ++n, headers: req.headers });
    proxy.counts[fault]++;
    if (fault === 'reset') return void req.socket.destroy();
    if (fault === 'stall') return void held.push(res);
    if (fault === 'error500' || fault === 'slowDown' || fault === 'preconditionFailed') {
      req.resume();
      req.on('end', () => {
        const [status, code] = fault === 'error500' ? [500, 'InternalError'] : fault === 'slowDown' ? [503, 'SlowDown'] : [412, 'PreconditionFailed'];
        res.writeHead(status, { 'content-type': 'application/xml' }).end(S3_ERROR(code, `injected ${code}`));
      });
      return;
    }
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (fault !== 'truncate') return void upRes.pipe(res);
      // send part of the body, then cut the connection: the declared length never arrives
      let sent = 0;
      const limit = Math.floor(Number(upRes.headers['content-length'] ?? 0) / 2);
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= limit) return;
        res.write(chunk.subarray(0, limit - sent));
        sent += chunk.length;
        if (sent >= limit) res.socket?.destroy();
      });
      upRes.on('end', () => res.socket?.destroy());
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
