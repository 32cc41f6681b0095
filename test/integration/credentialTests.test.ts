import { describe, expect, inject, it } from 'vitest';
import { openStorage, Repository } from '../../engine';
import { DEFAULT_LEVEL } from '../../engine/compression';
import { credentialTest } from '../../nodes/shared/credentialTests';
import { openRepository } from '../../nodes/shared/repository';
import { tempDir } from '../support/backends';
import { newCatalogDatabase } from '../support/catalog';
import { pgConnection } from '../support/postgres';

type TestFn = (this: never, credential: never) => Promise<{ status: string; message: string }>;
const run = (fn: TestFn, data: Record<string, unknown>) => fn.call(undefined as never, { id: 'x', name: 'x', type: 'x', data } as never);

describe("the n8n credentials' tests", () => {
  it('open a repository, and say why they cannot', async () => {
    const s3 = inject('s3');
    const ok = await run(credentialTest.dbmRepositoryTest as TestFn, { storage: 'local', path: `${tempDir()}/repo`, passphrase: 'p', createIfMissing: true });
    expect(ok).toEqual({ status: 'OK', message: expect.stringMatching(/^Repository [0-9a-f]{8} opened: 0 snapshots$/) });
    const s3ok = await run(credentialTest.dbmRepositoryTest as TestFn, {
      storage: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'cred-test', prefix: 'r', passphrase: 'p', createIfMissing: true,
    });
    expect(s3ok.status).toBe('OK');
    const wrong = await run(credentialTest.dbmRepositoryTest as TestFn, {
      storage: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'cred-test', prefix: 'r', passphrase: 'not it',
    });
    expect(wrong).toEqual({ status: 'Error', message: 'wrong passphrase: no key slot opens with it' });
    const none = await run(credentialTest.dbmRepositoryTest as TestFn, { storage: 'local', path: tempDir(), passphrase: 'p', createIfMissing: false });
    expect(none).toEqual({ status: 'Error', message: expect.stringMatching(/^no repository at /) });
  });

  it("create a repository with the credential's compression, and leave an existing one's alone", async () => {
    const made = async (compression: unknown): Promise<number> => {
      const dir = `${tempDir()}/repo`;
      await openRepository({ storage: 'local', path: dir, passphrase: 'p', createIfMissing: true, ...(compression === undefined ? {} : { compression }) });
      // read back from the repository's own config, as any later reader sees it
      return (await Repository.open(openStorage(dir), { passphrase: 'p' })).config.compressionLevel;
    };
    expect(await made('fast')).toBe(1);
    expect(await made('off')).toBe(0);
    expect(await made('default')).toBe(DEFAULT_LEVEL);
    expect(await made(undefined), 'a credential made before the field').toBe(DEFAULT_LEVEL);
    await expect(made('quick')).rejects.toThrow(`the Backup Repository credential's compression is "quick": use default, fast or off`);
    // the level is the repository's: a credential saying otherwise opens it as it is
    const dir = `${tempDir()}/repo`;
    await openRepository({ storage: 'local', path: dir, passphrase: 'p', createIfMissing: true, compression: 'off' });
    const again = await openRepository({ storage: 'local', path: dir, passphrase: 'p', createIfMissing: true, compression: 'fast' });
    expect(again.config.compressionLevel).toBe(0);
  });

  it('connect to PostgreSQL, the catalog and MinIO, and say why they cannot', async () => {
    const conn = pgConnection();
    const pg = { host: conn.host, port: conn.port, user: conn.user, password: conn.password, sslmode: 'disable', database: 'postgres' };
    expect(await run(credentialTest.dbmPostgresTest as TestFn, pg)).toEqual({ status: 'OK', message: expect.stringMatching(/^Connected: \d+ databases$/) });
    expect(await run(credentialTest.dbmPostgresTest as TestFn, { ...pg, password: 'wrong' })).toEqual({
      status: 'Error',
      message: `PostgreSQL at ${conn.host}:${conn.port}: password authentication failed for user "postgres"`,
    });
    const { name, pool } = await newCatalogDatabase();
    await pool.end();
    expect(await run(credentialTest.dbmCatalogTest as TestFn, { ...pg, database: name })).toEqual({ status: 'OK', message: 'Catalog reachable and up to date' });
    const s3 = inject('s3');
    expect((await run(credentialTest.dbmMinioTest as TestFn, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey })).status).toBe('OK');
    const bad = await run(credentialTest.dbmMinioTest as TestFn, { endpoint: 'http://127.0.0.1:1', accessKey: 'a', secretKey: 'b' });
    expect(bad.status).toBe('Error');
    expect(bad.message).toMatch(/^cannot list buckets at http:\/\/127\.0\.0\.1:1: /);
  });
});
