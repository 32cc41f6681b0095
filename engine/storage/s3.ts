import type * as Minio from 'minio';
import { promises as fs } from 'node:fs';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors';
import { clearDeadSpoolFiles } from './spool';
import type { ObjectInfo, Storage } from './storage';

export interface S3Options {
  /** Endpoint as a URL: http://127.0.0.1:9000, https://s3.example.com */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash. */
  prefix?: string;
  region?: string;
  /** Path-style addressing (MinIO, most self-hosted endpoints). Default true. */
  pathStyle?: boolean;
  /** A connection silent for this long is closed and its request fails as ETIMEDOUT (retried). Default 120 s. */
  timeoutMs?: number;
}

/** A repository in an S3-compatible bucket (MinIO, AWS S3, …) through the minio client. */
export class S3Storage implements Storage {
  readonly location: string;
  readonly spoolDir = tmpdir();
  private readonly client: Minio.Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly region: string;

  constructor(opts: S3Options) {
    const url = new URL(opts.endpoint);
    this.region = opts.region ?? 'us-east-1';
    this.client = createMinioClient(opts, true);
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.location = `s3:${url.origin}/${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private name(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async create(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket).catch(rethrow))) {
      await this.client.makeBucket(this.bucket, this.region).catch(async (err: unknown) => {
        // another process made it between the two calls: what we wanted
        if (await this.client.bucketExists(this.bucket).catch(() => false)) return;
        rethrow(err);
      });
    }
  }

  async put(key: string, data: Buffer | readonly Buffer[]): Promise<void> {
    // The request body is signed whole, so parts are joined here.
    const body = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    await this.client.putObject(this.bucket, this.name(key), body, body.length).catch(rethrow);
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    try {
      await this.client.putObject(this.bucket, this.name(key), data, data.length, { 'If-None-Match': '*' });
      return true;
    } catch (err) {
      const e = err as { code?: string; statusCode?: number };
      if (e.code === 'PreconditionFailed' || e.statusCode === 412) return false;
      return rethrow(err);
    }
  }

  async putFile(key: string, file: string): Promise<void> {
    // The request body is signed whole (minio would read a stream of this size into memory as well): one pack per upload in flight.
    const body = await fs.readFile(file);
    await this.client.putObject(this.bucket, this.name(key), body, body.length).catch(rethrow);
    await fs.rm(file, { force: true });
  }

  /** The spool is the system's temp directory, shared with other repositories and processes: only dead writers' files go (see spool.ts). */
  async clearSpool(dryRun: boolean): Promise<{ files: number; bytes: number }> {
    return clearDeadSpoolFiles(this.spoolDir, dryRun);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readAll(await this.client.getObject(this.bucket, this.name(key)));
    } catch (err) {
      throw mapMissing(httpError(err), key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await readAll(await this.client.getPartialObject(this.bucket, this.name(key), offset, length));
    } catch (err) {
      throw mapMissing(httpError(err), key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await this.client.statObject(this.bucket, this.name(key));
      return { key, size: st.size };
    } catch (err) {
      if (isMissing(err)) return null;
      throw httpError(err);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const stream = this.client.listObjectsV2(this.bucket, this.name(prefix), true);
    try {
      for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
        if (!item.name) continue;
        yield { key: item.name.slice(strip), size: item.size };
      }
    } catch (err) {
      throw httpError(err);
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, this.name(key)).catch(rethrow);
  }
}

/** A minio client for an endpoint URL (MinIO, AWS S3, any S3 endpoint). */
export function createMinioClient(
  opts: Pick<S3Options, 'endpoint' | 'accessKey' | 'secretKey' | 'region' | 'pathStyle' | 'timeoutMs'>,
  /** the caller retries itself (the repository's storage, through storage/retry.ts): the client's own retry is off */
  callerRetries = false,
): Minio.Client {
  const url = new URL(opts.endpoint);
  const useSSL = url.protocol === 'https:';
  // Loaded on first use: the minio client costs ~30 MB and start-up time that local repositories need not pay.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load, on purpose
  const { Client } = require('minio') as typeof Minio;
  return new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region ?? 'us-east-1',
    pathStyle: opts.pathStyle ?? true,
    transportAgent: stallGuardAgent(useSSL, opts.timeoutMs ?? 120_000),
    // one retry layer where we have ours; the client's own also prints each retry to the console
    ...(callerRetries ? { retryOptions: { disableRetry: true } } : {}),
  });
}

/**
 * An agent whose sockets close when silent for `timeoutMs`: the minio client sets no timeout, so a
 * stalled endpoint would hang a backup forever. The request then fails as ETIMEDOUT, which the
 * retrying storage retries.
 */
function stallGuardAgent(useSSL: boolean, timeoutMs: number): http.Agent {
  // loaded here, not with the module: a local repository's commands need neither (~14 ms of start-up)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Base = (require(useSSL ? 'node:https' : 'node:http') as typeof http).Agent;
  // `timeout` makes the agent set it again on every reused keep-alive socket
  const agent = new Base({ keepAlive: true, timeout: timeoutMs });
  const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
  agent.createConnection = ((...args: unknown[]) => {
    const socket = create(...args);
    socket.setTimeout(timeoutMs);
    socket.on('timeout', () => socket.destroy(Object.assign(new Error(`no answer from the S3 endpoint for ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    return socket;
  }) as typeof agent.createConnection;
  return agent;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export function isMissing(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  // a missing bucket holds no object either: a repository there does not exist yet
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject' || code === 'NoSuchBucket';
}

/**
 * The client (its own retries off) reports a 5xx or 429 answer as a plain "Retryable HTTP status: N"
 * error: given back its status, it is retried (storage/retry.ts) and named for what it is.
 */
function httpError(err: unknown): unknown {
  const status = /Retryable HTTP status: (\d{3})/.exec((err as Error)?.message ?? '')?.[1];
  return status ? Object.assign(new Error(`the S3 endpoint answered HTTP ${status}`), { code: `HTTP${status}`, statusCode: Number(status) }) : err;
}

function rethrow(err: unknown): never {
  throw httpError(err);
}

function mapMissing(err: unknown, key: string): unknown {
  return isMissing(err) ? new NotFoundError(`object ${key} does not exist`) : err;
}
