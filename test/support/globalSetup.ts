import { chmodSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { freePort } from './ports';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { PostgresCluster } from '../../stack/postgresCluster';

/**
 * Starts what the tests need, for the whole run: a real S3 endpoint (s3rver,
 * unless DBM_TEST_S3_ENDPOINT points at one, a MinIO say) and a real
 * PostgreSQL cluster of our own (unless DBM_TEST_PG_URL points at one).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void> | void)[] = [];

  if (process.env.DBM_TEST_S3_ENDPOINT) {
    project.provide('s3', {
      endpoint: process.env.DBM_TEST_S3_ENDPOINT,
      accessKey: process.env.DBM_TEST_S3_ACCESS_KEY ?? 'minioadmin',
      secretKey: process.env.DBM_TEST_S3_SECRET_KEY ?? 'minioadmin',
    });
  } else {
    // s3rver is CommonJS with a default export
    const { default: S3rver } = (await import('s3rver')) as unknown as {
      default: new (opts: object) => { run(): Promise<{ port: number }>; close(): Promise<void>; store: S3rverStore };
    };
    const directory = mkdtempSync(path.join(tmpdir(), 'dbm-s3-'));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
    keepEmptyDirectories(server.store);
    awaitPutsWritten(server.store);
    const { port } = await server.run();
    project.provide('s3', { endpoint: `http://127.0.0.1:${port}`, accessKey: 'S3RVER', secretKey: 'S3RVER' });
    cleanups.push(async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    });
  }

  if (process.env.DBM_TEST_PG_URL) {
    project.provide('pg', { url: process.env.DBM_TEST_PG_URL });
  } else {
    const base = mkdtempSync(path.join(tmpdir(), 'dbm-pg-'));
    chmodSync(base, 0o755); // the server runs as the postgres user when we are root
    const cluster = new PostgresCluster({ dataDir: path.join(base, 'data'), port: await freePort(), password: 'test-superuser-pw', unsafeFast: true });
    cluster.start();
    project.provide('pg', { url: cluster.url });
    cleanups.push(() => {
      cluster.stop();
      rmSync(base, { recursive: true, force: true });
    });
  }

  return async () => {
    for (const c of cleanups.reverse()) await c();
  };
}

interface S3rverObject {
  bucket: string;
  key: string;
  content: unknown;
  metadata: Record<string, string>;
}

interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
}

/**
 * s3rver removes the directories a delete leaves empty, racing a put into the
 * same directory: the put's write stream then fails with ENOENT, unhandled,
 * and takes the whole test run down (seen in CI: two queue-mode workers taking
 * and releasing locks at once). S3 listings never show empty directories, so
 * a delete here removes the object's files and leaves its directories.
 */
function keepEmptyDirectories(store: S3rverStore): void {
  store.deleteObject = async (bucket, key) => {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((resource) =>
        rm(store.getResourcePath(bucket, key, resource), { force: true }),
      ),
    );
  };
}

/**
 * s3rver answers a put once the body has passed its md5 transform, not once
 * the file it is written to is finished (a buffer's put does not wait at
 * all), so a listing right after the put could miss the key: seen once in CI,
 * under load, as "expected [] to deeply equal ['locks/a53']" in the lock churn
 * test. A put here writes the file to its end, then the metadata, and only
 * then answers.
 */
function awaitPutsWritten(store: S3rverStore): void {
  store.putObject = async (object) => {
    const file = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(file), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : (object.content as Readable);
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(body, count, createWriteStream(file));
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: { endpoint: string; accessKey: string; secretKey: string };
    pg: { url: string };
  }
}
