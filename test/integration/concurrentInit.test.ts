import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openStorage, Repository, RepositoryExistsError, type Storage } from '../../engine';
import { listAll } from '../../engine/storage/storage';
import { PASSPHRASE, tempDir } from '../support/backends';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';

/**
 * Several processes creating one repository at once (queue-mode workers' first backups): one
 * repository results, with one config and one key slot, and every one of them reads what any
 * other wrote. Locally the file system decides (a hard link); on S3 the server's conditional
 * write (If-None-Match: *), which s3rver ignores: there a proxy in front of it answers 412 as
 * AWS S3 and MinIO do, for a key created once already.
 */
describe('one repository when several create it at once', () => {
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.close();
  });

  async function conditionalS3(): Promise<Storage> {
    const s3 = inject('s3');
    const proxy = await startFaultProxy(s3.endpoint);
    proxies.push(proxy);
    const created = new Set<string>();
    proxy.plan = ({ method, url, headers }) => {
      if (method !== 'PUT' || headers['if-none-match'] !== '*') return 'pass';
      if (created.has(url)) return 'preconditionFailed';
      created.add(url);
      return 'pass';
    };
    return openStorage(`s3://init-${randomBytes(4).toString('hex')}/repo`, { endpoint: proxy.url, accessKey: s3.accessKey, secretKey: s3.secretKey });
  }

  for (const [name, make] of [
    ['local', async () => openStorage(path.join(tempDir(), 'repo'))],
    ['s3', conditionalS3],
  ] as const) {
    it(`${name}: eight at once make one repository that all of them use`, async () => {
      const storage = await make();
      const repos = await Promise.all(Array.from({ length: 8 }, () => Repository.initOrOpen(storage, { passphrase: PASSPHRASE })));
      expect((await listAll(storage, 'keys/')).length).toBe(1);
      expect(new Set(repos.map((r) => r.config.id)).size).toBe(1);
      // what one writes, another reads
      const id = await repos[0].putSealed((x) => `snapshots/${x}`, { hello: 'from the first' }, 'dbm-probe');
      for (const r of repos) expect(await r.getSealed(id.key, 'dbm-probe', 'probe')).toEqual({ hello: 'from the first' });
      // and a plain init where one exists says so
      await expect(Repository.init(storage, { passphrase: PASSPHRASE })).rejects.toThrow(RepositoryExistsError);
      expect((await listAll(storage, 'keys/')).length).toBe(1);
    });
  }
});

/**
 * Queue-mode workers take and release locks at once: a key put while the last other key under
 * its prefix is deleted. s3rver used to lose that put (and crash this whole run: its write
 * stream's ENOENT was unhandled); the test endpoint now keeps emptied directories. Failed within
 * the first few rounds before.
 */
it('s3: keys put and deleted at once under one prefix all land or go', async () => {
  const s3 = inject('s3');
  const storage = await openStorage(`s3://churn-${randomBytes(4).toString('hex')}/repo`, s3);
  await storage.create();
  for (let i = 0; i < 100; i++) {
    await storage.put(`locks/b${i}`, Buffer.from('released'));
    await Promise.all([storage.delete(`locks/b${i}`), storage.put(`locks/a${i}`, Buffer.from('taken'))]);
    expect((await listAll(storage, 'locks/')).map((o) => o.key)).toEqual([`locks/a${i}`]);
    await storage.delete(`locks/a${i}`);
  }
  expect(await listAll(storage, 'locks/')).toEqual([]);
});
