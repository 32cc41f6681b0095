import type * as Minio from 'minio';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors';
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
}

/** A repository in an S3-compatible bucket (MinIO, AWS S3, …) through the minio client. */
export class S3Storage implements Storage {
  readonly location: string;
  private readonly client: Minio.Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly region: string;

  constructor(opts: S3Options) {
    const url = new URL(opts.endpoint);
    this.region = opts.region ?? 'us-east-1';
    this.client = createMinioClient(opts);
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.location = `s3:${url.origin}/${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private name(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async create(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      await this.client.makeBucket(this.bucket, this.region);
    }
  }

  async put(key: string, data: Buffer | readonly Buffer[]): Promise<void> {
    // The request body is signed whole, so parts are joined here.
    const body = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    await this.client.putObject(this.bucket, this.name(key), body, body.length);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readAll(await this.client.getObject(this.bucket, this.name(key)));
    } catch (err) {
      throw mapMissing(err, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await readAll(await this.client.getPartialObject(this.bucket, this.name(key), offset, length));
    } catch (err) {
      throw mapMissing(err, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await this.client.statObject(this.bucket, this.name(key));
      return { key, size: st.size };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const stream = this.client.listObjectsV2(this.bucket, this.name(prefix), true);
    for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
      if (!item.name) continue;
      yield { key: item.name.slice(strip), size: item.size };
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, this.name(key));
  }
}

/** A minio client for an endpoint URL (MinIO, AWS S3, any S3 endpoint). */
export function createMinioClient(opts: Pick<S3Options, 'endpoint' | 'accessKey' | 'secretKey' | 'region' | 'pathStyle'>): Minio.Client {
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
  });
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

function mapMissing(err: unknown, key: string): unknown {
  return isMissing(err) ? new NotFoundError(`object ${key} does not exist`) : err;
}
