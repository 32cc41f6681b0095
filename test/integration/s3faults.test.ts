import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupStreams, backupTree, checkRepository, findSnapshot, listLocks, listSnapshots, openStorage, Repository, restoreTree } from '../../engine';
import { PASSPHRASE, tempDir } from '../support/backends';
import { startFaultProxy, type Fault, type FaultProxy } from '../support/faultProxy';
import { describeTree, makeSampleTree, seededBytes } from '../support/trees';

/**
 * The repository on a real S3 endpoint behind a proxy that injects faults. A backup either
 * succeeds (the faults are retried) or fails naming the cause; afterwards `check --read-data` is
 * clean and what was committed before is whole. Each case prints what the user saw, for the notes.
 */
describe('backups through an S3 endpoint that fails', () => {
  const s3 = inject('s3');
  let proxy: FaultProxy;
  const src = path.join(tempDir(), 'src');

  beforeAll(async () => {
    proxy = await startFaultProxy(s3.endpoint);
    await makeSampleTree(src);
  });
  afterAll(async () => {
    await proxy.close();
  });

  const repoVia = (bucket: string, endpoint: string) => openStorage(`s3://${bucket}/repo`, { endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, timeoutMs: 1000 });
  const stream = (seed: string) => [{ name: 'dump.sql', open: () => Readable.from([seededBytes(seed, 3 * 1024 * 1024)]) }];

  /** A repository with one snapshot committed before the faults begin. */
  async function withCommitted(): Promise<{ bucket: string; first: string }> {
    const bucket = `f-${randomBytes(5).toString('hex')}`;
    const repo = await Repository.init(repoVia(bucket, s3.endpoint), { passphrase: PASSPHRASE });
    return { bucket, first: (await backupStreams(repo, stream('before'), { target: 'postgres' })).id };
  }

  /** Afterwards, without faults: a clean check of all data, the earlier snapshot still there, no lock left. */
  async function intact(bucket: string, first: string): Promise<string[]> {
    const repo = await Repository.open(repoVia(bucket, s3.endpoint), { passphrase: PASSPHRASE });
    const check = await checkRepository(repo, { readData: true });
    expect(check.errors).toEqual([]);
    expect((await listSnapshots(repo)).map((r) => r.id)).toContain(first);
    expect(await listLocks(repo)).toEqual([]);
    return check.warnings;
  }

  it.each<Fault>(['error500', 'slowDown', 'reset', 'stall', 'truncate'])('every fourth request meets %s: the backup succeeds by retrying, and restores whole', async (fault) => {
    const { bucket, first } = await withCommitted();
    proxy.counts[fault] = 0;
    proxy.plan = ({ n }) => (n % 4 === 2 ? fault : 'pass');
    try {
      const repo = await Repository.open(repoVia(bucket, proxy.url), { passphrase: PASSPHRASE });
      const ref = await backupTree(repo, [src], { target: 'files' });
      await backupStreams(repo, stream('during'), { target: 'postgres' });
      expect(proxy.counts[fault]).toBeGreaterThan(0);
      const out = tempDir();
      await restoreTree(await Repository.open(repoVia(bucket, proxy.url), { passphrase: PASSPHRASE }), await findSnapshot(repo, ref.id), out);
      expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));
      await fs.rm(out, { recursive: true, force: true });
    } finally {
      proxy.plan = () => 'pass';
    }
    const warnings = await intact(bucket, first);
    console.log(`fault ${fault} on every 4th request (${proxy.counts[fault]} injected): backup and restore succeeded; check --read-data: clean${warnings.length ? `, ${warnings.length} warnings` : ''}`);
  });

  it.each<[Fault, RegExp]>([
    ['reset', /failed 6 times, the last with ECONNRESET/],
    ['stall', /failed 6 times, the last with ETIMEDOUT: no answer from the S3 endpoint for 1 s/],
    ['error500', /failed 6 times, the last with HTTP500: the S3 endpoint answered HTTP 500/],
  ])('every pack upload meets %s: the backup fails naming the cause, and nothing committed before is lost', async (fault, cause) => {
    const { bucket, first } = await withCommitted();
    const repo = await Repository.open(repoVia(bucket, proxy.url), { passphrase: PASSPHRASE });
    // the lock is taken, then every pack upload fails: the backup stops midway and releases its lock
    proxy.plan = ({ method, url }) => (method === 'PUT' && url.includes('/repo/data/') ? fault : 'pass');
    let seen = '';
    try {
      await expect(backupStreams(repo, stream('never'), { target: 'postgres' })).rejects.toThrow(cause);
      seen = await backupStreams(repo, stream('never'), { target: 'postgres' }).then(() => '', (err: Error) => err.message);
    } finally {
      proxy.plan = () => 'pass';
    }
    const warnings = await intact(bucket, first);
    expect((await listSnapshots(await Repository.open(repoVia(bucket, s3.endpoint), { passphrase: PASSPHRASE }))).length).toBe(1);
    console.log(`fault ${fault} on every pack upload: the user saw "${seen}"; check --read-data: clean${warnings.length ? ` (${warnings.join('; ')})` : ''}`);
  });
});
