import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  backupStreams,
  backupTree,
  checkRepository,
  CorruptionError,
  listSnapshots,
  prune,
  Repository,
  restoreTree,
  UnsafePathError,
  WrongKeyError,
  withLock,
} from '../../engine';
import { saveSnapshot, type Snapshot } from '../../engine/snapshot';
import { saveTree } from '../../engine/tree';
import { DATA_PREFIX, INDEX_PREFIX } from '../../engine/repository/layout';
import { listAll } from '../../engine/storage/storage';
import { backends, localBackend, newRepository, PASSPHRASE, reopen, tempDir } from '../support/backends';
import { makeSampleTree, seededBytes } from '../support/trees';

function fakeSnapshot(tree: string): Snapshot {
  return {
    version: 1, time: new Date().toISOString(), target: 'files', type: 'full', kind: 'tree', hostname: 'h', username: 'u',
    paths: ['/x'], tags: {}, tree, parent: null, program: 'test',
    stats: { files: 0, dirs: 0, filesUnchanged: 0, bytesRead: 0, bytesAdded: 0, bytesStored: 0, totalSize: 0, durationMs: 0 },
  };
}

const fileNode = (name: string, content: string[] = []) => ({
  name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: 0, content,
});

describe.each(backends)('integrity on $name storage', (backend) => {
  it('fails cleanly on a wrong passphrase', async () => {
    const { loc } = await newRepository(backend);
    await expect(Repository.open(loc.storage, { passphrase: 'not it' })).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('finds a flipped byte in a pack with read-data, not with a structure check', async () => {
    const { repo, loc } = await newRepository(backend);
    await backupStreams(repo, [{ name: 'd', open: () => Readable.from([seededBytes('x', 2_000_000)]) }], { target: 'stream' });
    const [pack] = await listAll(loc.storage, DATA_PREFIX);
    const data = await loc.storage.get(pack.key);
    data[1000] ^= 0x40;
    await loc.storage.put(pack.key, data);
    const fresh = await reopen(loc);
    expect((await checkRepository(fresh)).ok).toBe(true);
    const report = await checkRepository(fresh, { readData: true });
    expect(report.ok).toBe(false);
    expect(report.errors.join('\n')).toMatch(/does not match its hash/);
    expect(report.errors.join('\n')).toMatch(/failed authentication/);
  });

  it('reports a missing pack and the snapshot that needs it', async () => {
    const { repo, loc } = await newRepository(backend);
    await backupStreams(repo, [{ name: 'd', open: () => Readable.from([seededBytes('y', 100_000)]) }], { target: 'stream' });
    const [pack] = await listAll(loc.storage, DATA_PREFIX);
    await loc.storage.delete(pack.key);
    const report = await checkRepository(await reopen(loc));
    expect(report.ok).toBe(false);
    expect(report.errors.join('\n')).toMatch(/missing from storage/);
  });

  it('reports a truncated pack and a truncated index', async () => {
    const { repo, loc } = await newRepository(backend);
    await backupStreams(repo, [{ name: 'd', open: () => Readable.from([seededBytes('z', 300_000)]) }], { target: 'stream' });
    const [pack] = await listAll(loc.storage, DATA_PREFIX);
    await loc.storage.put(pack.key, (await loc.storage.get(pack.key)).subarray(0, 1000));
    let report = await checkRepository(await reopen(loc), { readData: true });
    expect(report.errors.join('\n')).toMatch(/has size 1000/);

    const [index] = await listAll(loc.storage, INDEX_PREFIX);
    await loc.storage.put(index.key, (await loc.storage.get(index.key)).subarray(0, 20));
    report = await checkRepository(await reopen(loc));
    expect(report.ok).toBe(false);
    expect(report.errors[0]).toMatch(/index: index [0-9a-f]+ (is truncated|failed authentication)/);
  });

  it('refuses a snapshot whose entries climb out of the restore target', async () => {
    const { repo } = await newRepository(backend);
    for (const evil of ['../escape', '/etc/passwd', 'a/../../b', '..', '']) {
      await repo.loadIndex();
      const tree = await saveTree(repo, { nodes: [fileNode(evil)] });
      await repo.flush();
      const ref = await saveSnapshot(repo, fakeSnapshot(tree));
      const out = path.join(tempDir(), 'target');
      await expect(restoreTree(repo, ref, out)).rejects.toBeInstanceOf(UnsafePathError);
      await expect(fs.readdir(out)).resolves.toEqual([]);
    }
  });

  it('refuses a snapshot that lists one name twice (a symlink and a directory)', async () => {
    const { repo } = await newRepository(backend);
    await repo.loadIndex();
    const inner = await saveTree(repo, { nodes: [fileNode('passwd')] });
    const tree = await saveTree(repo, {
      nodes: [
        { name: 'x', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '0', target: '/etc' },
        { name: 'x', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0', subtree: inner },
      ],
    });
    await repo.flush();
    const ref = await saveSnapshot(repo, fakeSnapshot(tree));
    await expect(restoreTree(repo, ref, tempDir())).rejects.toThrow(/twice/);
  });

  it('never writes through a symlink planted in the restore target', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const ref = await backupTree(repo, [src], { target: 'files' });
    const outside = tempDir('dbm-outside-');
    const target = tempDir();
    // target/src/docs -> outside: restoring docs/readme.txt would land outside
    await fs.mkdir(path.join(target, 'src'));
    await fs.symlink(outside, path.join(target, 'src', 'docs'));
    await expect(restoreTree(repo, ref, target)).rejects.toThrow(/through symlink/);
    expect(await fs.readdir(outside)).toEqual([]);

    // A planted symlink where a file goes is replaced, not followed.
    const target2 = tempDir();
    const victim = path.join(outside, 'victim');
    await fs.writeFile(victim, 'untouched');
    await fs.mkdir(path.join(target2, 'src'));
    await fs.symlink(victim, path.join(target2, 'src', 'script.sh'));
    await restoreTree(repo, ref, target2);
    expect(await fs.readFile(victim, 'utf8')).toBe('untouched');
    expect((await fs.lstat(path.join(target2, 'src', 'script.sh'))).isFile()).toBe(true);

    // A file there that is a hard link to another (planted by whoever can write the target) is
    // replaced too: writing it in place would overwrite the file it links to.
    const target3 = tempDir();
    await fs.mkdir(path.join(target3, 'src'));
    await fs.link(victim, path.join(target3, 'src', 'script.sh'));
    await restoreTree(repo, ref, target3);
    expect(await fs.readFile(victim, 'utf8')).toBe('untouched');
    expect(await fs.readFile(path.join(target3, 'src', 'script.sh'))).toEqual(await fs.readFile(path.join(src, 'script.sh')));
    expect((await fs.stat(victim)).nlink).toBe(1);
  });

  it('fails a backup cleanly when storage starts refusing writes, and writes no snapshot', async () => {
    const loc = backend.make();
    await Repository.init(loc.storage, { passphrase: PASSPHRASE, config: { packSize: 256 * 1024 } });
    let packs = 0;
    // After two packs, every pack upload is refused (a full S3 disk, a revoked key).
    const failing = new Proxy(loc.storage, {
      get(target, prop, receiver) {
        if (prop === 'putFile') {
          return async (key: string, file: string) => {
            if (key.startsWith('data/') && ++packs > 2) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
            return target.putFile(key, file);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const repo = await Repository.open(failing, { passphrase: PASSPHRASE });
    const src = path.join(tempDir(), 'src');
    await fs.mkdir(path.join(src, 'a', 'deeper'), { recursive: true });
    for (let i = 0; i < 40; i++) {
      await fs.writeFile(path.join(src, `top${i}.bin`), seededBytes(`t${i}`, 600_000));
      await fs.writeFile(path.join(src, 'a', 'deeper', `f${i}.bin`), seededBytes(`d${i}`, 600_000));
    }
    await expect(backupTree(repo, [src], { target: 'files' })).rejects.toThrow(/^cannot write pack [0-9a-f]{12} to .+: disk full$/);
    const fresh = await reopen(loc);
    expect(await listSnapshots(fresh)).toEqual([]);
    expect((await checkRepository(fresh)).errors).toEqual([]);
    // the pack being filled when the backup failed was spooled to a file: it is gone too
    if (!loc.location.startsWith('s3://')) {
      const left = (await fs.readdir(loc.location, { recursive: true })).filter((name) => name.includes('.tmp-'));
      expect(left).toEqual([]);
    }
  });

  it('drops the pack being filled, its spool file and its blobs, when an operation under the lock fails', async () => {
    const { repo, loc } = await newRepository(backend);
    const spooled = async () =>
      (await fs.readdir(repo.storage.spoolDir).catch(() => [] as string[])).filter((name) => name.startsWith('dbm-pack.tmp-'));
    const before = await spooled();
    const data = seededBytes('unflushed', 300_000);
    let id = '';
    const failing = withLock(repo, { exclusive: false, operation: 'test' }, async () => {
      ({ id } = await repo.saveBlob('data', data));
      // large enough to go to the spool file at once, too small to close the pack
      const added = (await spooled()).filter((name) => !before.includes(name));
      if (loc.location.startsWith('s3://')) expect(added.length).toBeGreaterThanOrEqual(1); // others' packs may spool there meanwhile
      else expect(added).toHaveLength(1);
      throw new Error('stopped');
    });
    await expect(failing).rejects.toThrow('stopped');
    if (!loc.location.startsWith('s3://')) expect(await spooled()).toEqual(before); // the temp directory is shared with other tests
    expect(repo.hasBlob(id)).toBe(false);
    // the same handle stores it again in the next operation
    await withLock(repo, { exclusive: false, operation: 'test' }, async () => {
      await repo.saveBlob('data', data);
      await repo.flush();
    });
    expect((await repo.loadBlob(id)).equals(data)).toBe(true);
  });

  it('keeps what another operation on the same handle added when one fails', async () => {
    const { repo } = await newRepository(backend);
    const kept = seededBytes('kept', 300_000);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let id = '';
    let added!: () => void;
    const addedYet = new Promise<void>((resolve) => (added = resolve));
    const ongoing = withLock(repo, { exclusive: false, operation: 'test' }, async () => {
      ({ id } = await repo.saveBlob('data', kept));
      added();
      await gate; // still filling its pack when the other one fails
      await repo.flush();
    });
    await addedYet;
    const failing = withLock(repo, { exclusive: false, operation: 'test' }, async () => {
      await repo.saveBlob('data', seededBytes('lost', 300_000));
      throw new Error('stopped');
    });
    await expect(failing).rejects.toThrow('stopped');
    release();
    await ongoing;
    expect((await repo.loadBlob(id)).equals(kept)).toBe(true);
  });

  it('rejects a tampered snapshot manifest', async () => {
    const { repo, loc } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const ref = await backupTree(repo, [src], { target: 'files' });
    const data = await loc.storage.get(ref.key);
    data[data.length - 3] ^= 1;
    await loc.storage.put(ref.key, data);
    await expect(listSnapshots(await reopen(loc))).rejects.toBeInstanceOf(CorruptionError);
  });
});

describe('a repository location with no bucket', () => {
  it('is reported as no repository, not as an S3 error', async () => {
    const { s3Backend } = await import('../support/backends');
    const loc = s3Backend.make();
    await expect(Repository.open(loc.storage, { passphrase: 'x' })).rejects.toThrow(/^no repository at s3:/);
  });
});

describe('index objects', () => {
  it('are written every 16,384 blobs, so none grows with the number of files, and a fresh handle knows every blob', async () => {
    const loc = localBackend.make();
    const repo = await Repository.init(loc.storage, { passphrase: PASSPHRASE, config: { packSize: 64 * 1024 } });
    const ids: string[] = [];
    await withLock(repo, { exclusive: false, operation: 'many small blobs' }, async () => {
      for (let i = 0; i < 20_000; i++) ids.push((await repo.saveBlob('data', Buffer.from(`small blob number ${i}`))).id);
      await repo.flush();
    });
    const indexes = await listAll(loc.storage, INDEX_PREFIX);
    expect(indexes.length).toBe(2); // one at 16,384 blobs, one for the rest at flush (not one of 20,000)
    const fresh = await reopen(loc);
    await fresh.loadIndex();
    expect(ids.every((id) => fresh.hasBlob(id))).toBe(true);
    // prune rewrites the index in objects of the same bound
    await withLock(fresh, { exclusive: false, operation: 'snapshot' }, async () => {
      await saveSnapshot(fresh, fakeSnapshot(await saveTree(fresh, { nodes: [fileNode('all', ids)] })));
      await fresh.flush();
    });
    await prune(fresh);
    expect((await listAll(loc.storage, INDEX_PREFIX)).length).toBe(2);
    const pruned = await reopen(loc);
    await pruned.loadIndex();
    expect(ids.every((id) => pruned.hasBlob(id))).toBe(true);
  });
});
