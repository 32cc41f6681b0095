import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  acquireLock,
  addPassphraseKey,
  addRecoveryKey,
  backupStreams,
  backupTree,
  checkRepository,
  findSnapshot,
  forgetSnapshots,
  generateRecoveryKeyPair,
  listSnapshots,
  prune,
  readContent,
  removeKey,
  Repository,
  RepositoryLockedError,
  rotateKeys,
  WrongKeyError,
} from '../../engine';
import { DATA_PREFIX, LOCKS_PREFIX, lockKey } from '../../engine/repository/layout';
import { listAll } from '../../engine/storage/storage';
import { backends, newRepository, PASSPHRASE, reopen, tempDir } from '../support/backends';
import { makeSampleTree, seededBytes } from '../support/trees';

const stream = (name: string, data: Buffer) => [{ name, open: () => Readable.from([data]) }];

async function contentOf(repo: Repository, ref: Awaited<ReturnType<typeof findSnapshot>>): Promise<Buffer> {
  const { loadTree } = await import('../../engine');
  await repo.loadIndex();
  const tree = await loadTree(repo, ref.snapshot.tree);
  const node = tree.nodes[0];
  if (node.type !== 'file') throw new Error('not a file');
  const parts: Buffer[] = [];
  for await (const c of readContent(repo, node.content)) parts.push(c);
  return Buffer.concat(parts);
}

describe.each(backends)('locks and concurrency on $name storage', (backend) => {
  it('runs two backups at once, both complete and check clean', async () => {
    const { loc } = await newRepository(backend);
    const [a, b] = [await reopen(loc), await reopen(loc)];
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const [r1, r2] = await Promise.all([
      backupTree(a, [src], { target: 'files' }),
      backupStreams(b, stream('dump.sql', seededBytes('c', 3_000_000)), { target: 'postgres' }),
    ]);
    expect(r1.id).not.toBe(r2.id);
    const fresh = await reopen(loc);
    expect(await listSnapshots(fresh)).toHaveLength(2);
    expect((await checkRepository(fresh, { readData: true })).errors).toEqual([]);
  });

  it('makes prune refuse while a backup holds a lock, and wait for it when asked', async () => {
    const { repo, loc } = await newRepository(backend);
    const backupLock = await acquireLock(await reopen(loc), { exclusive: false, operation: 'backup files' });
    await expect(prune(repo)).rejects.toBeInstanceOf(RepositoryLockedError);
    await expect(prune(repo)).rejects.toThrow(/shared lock held by backup files/);
    const waiting = prune(repo, { lockWaitMs: 20_000 });
    setTimeout(() => void backupLock.release(), 800);
    await expect(waiting).resolves.toMatchObject({ packsDeleted: 0 });
  });

  it('removes a lock nobody refreshed for 30 minutes, even from another host', async () => {
    const { repo } = await newRepository(backend);
    const old = new Date(Date.now() - 31 * 60 * 1000).toISOString();
    const info = { exclusive: true, hostname: 'some-other-host', username: 'x', pid: 1, time: old, operation: 'prune' };
    await repo.putSealed(() => lockKey('ab'.repeat(16)), info, 'dbm-lock');
    await expect(backupStreams(repo, stream('x', Buffer.from('x')), { target: 't' })).resolves.toBeTruthy();
    expect(await listAll(repo.storage, LOCKS_PREFIX)).toHaveLength(0);
  });

  it('honours a fresh lock from another host', async () => {
    const { repo } = await newRepository(backend);
    const info = { exclusive: true, hostname: 'some-other-host', username: 'x', pid: 1, time: new Date().toISOString(), operation: 'prune' };
    await repo.putSealed(() => lockKey('cd'.repeat(16)), info, 'dbm-lock');
    await expect(backupStreams(repo, stream('x', Buffer.from('x')), { target: 't' })).rejects.toThrow(/exclusive lock held by prune \(pid 1 on some-other-host/);
  });

  it('lets a backup run beside another backup but not beside prune', async () => {
    const { repo, loc } = await newRepository(backend);
    const pruneLock = await acquireLock(await reopen(loc), { exclusive: true, operation: 'prune' });
    await expect(backupStreams(repo, stream('x', Buffer.from('x')), { target: 't' })).rejects.toBeInstanceOf(RepositoryLockedError);
    await pruneLock.release();
    await expect(backupStreams(repo, stream('x', Buffer.from('x')), { target: 't' })).resolves.toBeTruthy();
  });
});

describe.each(backends)('forget and prune on $name storage', (backend) => {
  it('keeps exactly what the policy says and prune frees the rest', async () => {
    const { repo, loc } = await newRepository(backend);
    // One distinct 600 KB dump a day for 10 days, plus a files snapshot that shares nothing.
    const days = Array.from({ length: 10 }, (_, i) => new Date(Date.UTC(2026, 0, i + 1, 2)));
    for (const [i, day] of days.entries()) {
      await backupStreams(repo, stream('db.sql', seededBytes(`day${i}`, 600_000)), { target: 'postgres', time: day });
    }
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const files = await backupTree(repo, [src], { target: 'files', time: days[0] });

    const dry = await forgetSnapshots(repo, { policy: { daily: 3 }, dryRun: true });
    expect(dry.filter((d) => !d.keep)).toHaveLength(7);
    expect(await listSnapshots(repo)).toHaveLength(11);

    const decisions = await forgetSnapshots(repo, { policy: { daily: 3 } });
    const keptTimes = decisions.filter((d) => d.keep).map((d) => d.item.time.slice(0, 10)).sort();
    expect(keptTimes).toEqual(['2026-01-01', '2026-01-08', '2026-01-09', '2026-01-10']); // the files group keeps its only one
    const remaining = await listSnapshots(repo);
    expect(remaining.map((r) => r.id)).toContain(files.id);

    const before = (await listAll(loc.storage, DATA_PREFIX)).reduce((s, o) => s + o.size, 0);
    const report = await prune(await reopen(loc));
    const after = (await listAll(loc.storage, DATA_PREFIX)).reduce((s, o) => s + o.size, 0);
    expect(report.blobsRemoved).toBeGreaterThanOrEqual(7);
    expect(before - after).toBeGreaterThan(7 * 600_000);

    const fresh = await reopen(loc);
    expect((await checkRepository(fresh, { readData: true })).errors).toEqual([]);
    for (const ref of await listSnapshots(fresh, { target: 'postgres' })) {
      const i = days.findIndex((d) => d.toISOString() === ref.snapshot.time);
      expect((await contentOf(fresh, ref)).equals(seededBytes(`day${i}`, 600_000))).toBe(true);
    }
  });
});

describe.each(backends)('key slots on $name storage', (backend) => {
  it('opens with an added passphrase and with an RSA recovery key; removes slots', async () => {
    const { repo, loc } = await newRepository(backend);
    const second = await addPassphraseKey(repo, 'second passphrase', 'ops team');
    expect((await Repository.open(loc.storage, { passphrase: 'second passphrase' })).slot.id).toBe(second.id);
    const pair = generateRecoveryKeyPair(2048);
    await addRecoveryKey(repo, pair.publicKeyPem);
    expect((await Repository.open(loc.storage, { recoveryKey: pair.privateKeyPem })).slot.type).toBe('rsa');
    await expect(removeKey(repo, repo.slot.id)).rejects.toThrow(/opened with/);
    await removeKey(repo, second.id.slice(0, 8));
    await expect(Repository.open(loc.storage, { passphrase: 'second passphrase' })).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('rotates: new data under a new epoch, old data still readable, other passphrases retired', async () => {
    const { repo, loc } = await newRepository(backend);
    const oldData = seededBytes('old', 200_000);
    await backupStreams(repo, stream('a', oldData), { target: 'x' });
    await addPassphraseKey(repo, 'leaked passphrase');
    const pair = generateRecoveryKeyPair(2048);
    await addRecoveryKey(repo, pair.publicKeyPem);

    const result = await rotateKeys(repo, PASSPHRASE);
    expect(result.epoch).toBe(1);
    expect(result.removed).toHaveLength(1);
    await expect(Repository.open(loc.storage, { passphrase: 'leaked passphrase' })).rejects.toBeInstanceOf(WrongKeyError);

    const rotated = await reopen(loc);
    expect(rotated.keyring.epochs).toHaveLength(2);
    const newData = seededBytes('new', 200_000);
    await backupStreams(rotated, stream('b', newData), { target: 'y' });
    const viaRecovery = await Repository.open(loc.storage, { recoveryKey: pair.privateKeyPem });
    expect((await contentOf(viaRecovery, await findSnapshot(viaRecovery, 'latest', { target: 'x' }))).equals(oldData)).toBe(true);
    expect((await contentOf(viaRecovery, await findSnapshot(viaRecovery, 'latest', { target: 'y' }))).equals(newData)).toBe(true);
    // new packs are sealed with epoch 1
    const packs = await listAll(loc.storage, DATA_PREFIX);
    const epochs = await Promise.all(packs.map(async (p) => (await loc.storage.getRange(p.key, 0, 2)).readUInt16BE(0)));
    expect(epochs.sort()).toEqual([0, 1]);
  });
});
