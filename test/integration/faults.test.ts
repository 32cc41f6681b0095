import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { backupStreams, backupTree, checkRepository, listLocks, listSnapshots, openStorage, readContent, Repository } from '../../engine';
import { PASSPHRASE, tempDir } from '../support/backends';
import { seededBytes } from '../support/trees';

const AS_ROOT = process.getuid?.() === 0;

/**
 * A local repository on a small file system of its own (tmpfs, mounted by the test as root, as CI
 * runs): full, then read-only. The backup fails naming the real cause, and what was committed
 * before stays whole.
 */
describe.skipIf(!AS_ROOT)('a local repository on a file system that fills up or turns read-only', () => {
  const mnt = path.join(tempDir('dbm-fs-'), 'mnt');
  mkdirSync(mnt);
  const mount = (...opts: string[]) => expect(spawnSync('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'tmpfs', mnt]).status).toBe(0);
  afterAll(() => {
    spawnSync('umount', [mnt]);
  });
  const stream = (seed: string, size: number) => [{ name: 'dump.sql', open: () => Readable.from([seededBytes(seed, size)]) }];

  it('names "no space left" and "read-only", commits nothing half-made, and keeps the earlier snapshot whole', async () => {
    mount('size=6m');
    const storage = openStorage(path.join(mnt, 'repo'));
    const repo = await Repository.init(storage, { passphrase: PASSPHRASE });
    const first = await backupStreams(repo, stream('kept', 512 * 1024), { target: 'postgres' });

    await expect(backupStreams(await Repository.open(storage, { passphrase: PASSPHRASE }), stream('too big', 24 * 1024 * 1024), { target: 'postgres' })).rejects.toThrow(
      /no space left on the device \(ENOSPC\)/,
    );
    const after = await Repository.open(storage, { passphrase: PASSPHRASE });
    expect((await listSnapshots(after)).map((r) => r.id)).toEqual([first.id]);
    expect(await listLocks(after)).toEqual([]);
    const check = await checkRepository(after, { readData: true });
    expect(check.errors).toEqual([]);
    expect(spawnSync('find', [path.join(mnt, 'repo'), '-name', '*.tmp-*']).stdout.toString()).toBe(''); // no half-written object

    expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0);
    const readOnly = await Repository.open(storage, { passphrase: PASSPHRASE });
    await expect(backupStreams(readOnly, stream('ro', 1024), { target: 'postgres' })).rejects.toThrow(/the file system is read-only \(EROFS\)/);
    // reading still works: the earlier snapshot restores byte for byte
    const chunks: Buffer[] = [];
    const { loadTree } = await import('../../engine');
    await readOnly.loadIndex();
    const node = (await loadTree(readOnly, first.snapshot.tree)).nodes[0];
    for await (const c of readContent(readOnly, node.type === 'file' ? node.content : [])) chunks.push(c);
    expect(Buffer.concat(chunks).equals(seededBytes('kept', 512 * 1024))).toBe(true);
  });

  it('fails a tree backup that fills the disk with the reason, whichever file is being read when an earlier one fails to land', async () => {
    // Files' chunks are sealed and stored while the next files are read (one window for the backup): the
    // failure of a chunk from an earlier file must still fail the backup, not be lost or hang it.
    spawnSync('umount', [mnt]);
    mount('size=6m');
    const storage = openStorage(path.join(mnt, 'repo'));
    const repo = await Repository.init(storage, { passphrase: PASSPHRASE });
    const tree = tempDir('dbm-fill-');
    for (let i = 0; i < 12; i++) writeFileSync(path.join(tree, `f${i}.bin`), seededBytes(`fill-${i}`, 3 * 1024 * 1024));
    await expect(backupTree(repo, [tree], { target: 'files' })).rejects.toThrow(/no space left on the device \(ENOSPC\)/);
    const after = await Repository.open(storage, { passphrase: PASSPHRASE });
    expect(await listSnapshots(after)).toEqual([]);
    expect(await listLocks(after)).toEqual([]);
    expect((await checkRepository(after, { readData: true })).errors).toEqual([]);
    expect(spawnSync('find', [path.join(mnt, 'repo'), '-name', '*.tmp-*']).stdout.toString()).toBe('');
  });
});
