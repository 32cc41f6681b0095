import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * Starts a real S3 endpoint (s3rver) for the whole run, unless
 * DBM_TEST_S3_ENDPOINT points at one already (a MinIO, say).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DBM_TEST_S3_ENDPOINT) {
    project.provide('s3', {
      endpoint: process.env.DBM_TEST_S3_ENDPOINT,
      accessKey: process.env.DBM_TEST_S3_ACCESS_KEY ?? 'minioadmin',
      secretKey: process.env.DBM_TEST_S3_SECRET_KEY ?? 'minioadmin',
    });
    return async () => undefined;
  }
  // s3rver is CommonJS with a default export
  const { default: S3rver } = (await import('s3rver')) as unknown as { default: new (opts: object) => { run(): Promise<{ port: number }>; close(): Promise<void> } };
  const directory = mkdtempSync(path.join(tmpdir(), 'dbm-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
  const { port } = await server.run();
  project.provide('s3', { endpoint: `http://127.0.0.1:${port}`, accessKey: 'S3RVER', secretKey: 'S3RVER' });
  return async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: { endpoint: string; accessKey: string; secretKey: string };
  }
}
