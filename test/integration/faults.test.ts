import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { backupStreams, checkRepository, listLocks, listSnapshots, openStorage, readContent, Repository } from '../../engine';
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
});
