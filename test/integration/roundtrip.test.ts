import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { backupStreams, backupTree, checkRepository, findSnapshot, loadTree, newProgress, Repository, restoreStream, restoreTree, type DirNode } from '../../engine';
import { backends, localBackend, newRepository, PASSPHRASE, reopen, tempDir } from '../support/backends';
import { describeTree, makeSampleTree, seededBytes, textBytes } from '../support/trees';

async function collect(stream: PassThrough, run: Promise<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  await run;
  stream.end();
  return Buffer.concat(parts);
}

describe.each(backends)('round trips on $name storage', (backend) => {
  it('restores a tree byte for byte, with modes, times, symlinks and empty entries', async () => {
    const { repo, loc } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const ref = await backupTree(repo, [src], { target: 'files' });
    expect(ref.snapshot.type).toBe('full');
    expect(ref.snapshot.stats.files).toBe(9); // 7 files and 2 symlinks

    // A second process, with only the key and the repository, restores it.
    const other = await reopen(loc);
    const out = tempDir();
    await restoreTree(other, await findSnapshot(other, ref.id.slice(0, 8)), out);
    expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));
    expect((await checkRepository(other, { readData: true })).errors).toEqual([]);
  });

  it('restores a stream byte for byte, and names entries of a multi-stream snapshot', async () => {
    const { repo } = await newRepository(backend);
    const dump = Buffer.concat([textBytes('dump', 5_000_000), seededBytes('bin', 2_000_000)]);
    const second = textBytes('other', 100_000);
    const ref = await backupStreams(
      repo,
      [
        { name: 'app.sql', open: () => Readable.from([dump.subarray(0, 1234), dump.subarray(1234)]) },
        { name: 'globals.sql', open: () => Readable.from([second]) },
      ],
      { target: 'postgres' },
    );
    expect(ref.snapshot.kind).toBe('stream');
    const out = new PassThrough();
    expect((await collect(out, restoreStream(repo, ref, 'app.sql', out))).equals(dump)).toBe(true);
    const out2 = new PassThrough();
    expect((await collect(out2, restoreStream(repo, ref, 'globals.sql', out2))).equals(second)).toBe(true);
    await expect(restoreStream(repo, ref, undefined, new PassThrough())).rejects.toThrow(/has 2 entries/);
  });

  it("frees a producer's chunks once read when the entry says they are the engine's, and only then", async () => {
    const { repo } = await newRepository(backend);
    const parts = () => [textBytes('p1', 300_000), seededBytes('p2', 1_500_000), textBytes('p3', 70_000)].map((b) => Buffer.from(b));
    const freed = parts();
    const kept = parts();
    const whole = Buffer.concat(parts());
    const ref = await backupStreams(
      repo,
      [
        { name: 'freed', freeChunks: true, open: () => Readable.from(freed) },
        { name: 'kept', open: () => Readable.from(kept) },
      ],
      { target: 'stream' },
    );
    expect(freed.map((b) => b.length)).toEqual([0, 0, 0]); // detached: their memory went as soon as they were copied
    expect(Buffer.concat(kept).equals(whole)).toBe(true);
    for (const name of ['freed', 'kept']) {
      const out = new PassThrough();
      expect((await collect(out, restoreStream(repo, ref, name, out))).equals(whole)).toBe(true);
    }
  });

  it('restores many files whose blobs are shared and spread over many packs', async () => {
    const loc = backend.make();
    // Tiny packs and chunks: every large file spans several packs.
    const repo = await Repository.init(loc.storage, {
      passphrase: PASSPHRASE,
      config: { packSize: 256 * 1024, chunker: { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 } },
    });
    const src = path.join(tempDir(), 'src');
    await fs.mkdir(path.join(src, 'many'), { recursive: true });
    // 1100 small files (more than two restore batches), a third of them duplicates of each other
    for (let i = 0; i < 1100; i++) await fs.writeFile(path.join(src, 'many', `f${i}`), i % 3 === 0 ? 'same content\n' : `file ${i}\n`);
    const big = seededBytes('big', 3 * 1024 * 1024);
    await fs.writeFile(path.join(src, 'big1.bin'), big);
    await fs.writeFile(path.join(src, 'big2.bin'), Buffer.concat([big.subarray(0, 1024 * 1024), seededBytes('tail', 500_000)]));
    const ref = await backupTree(repo, [src], { target: 'files' });
    expect(repo.counters.packsWritten).toBeGreaterThan(10);
    const out = tempDir();
    const result = await restoreTree(await reopen(loc), ref, out);
    expect(result.files).toBe(1102);
    expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));
  });

  it('restores only what --include selects', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const ref = await backupTree(repo, [src], { target: 'files' });
    const out = tempDir();
    await restoreTree(repo, ref, out, { include: ['src/docs/nested'] });
    expect(Object.keys(await describeTree(out)).sort()).toEqual([
      'src', 'src/docs', 'src/docs/nested', 'src/docs/nested/deeper', 'src/docs/nested/deeper/blob.bin', 'src/docs/nested/log.txt',
    ]);
  });

  it('skips excluded paths', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const ref = await backupTree(repo, [src], { target: 'files', excludes: ['*.bin', 'docs/readme.txt'] });
    const out = tempDir();
    await restoreTree(repo, ref, out);
    const restored = Object.keys(await describeTree(path.join(out, 'src')));
    expect(restored).not.toContain('docs/nested/deeper/blob.bin');
    expect(restored).not.toContain('docs/readme.txt');
    expect(restored).toContain('docs/nested/log.txt');
  });

  it('refuses a path that does not exist, and writes no snapshot', async () => {
    const { repo } = await newRepository(backend);
    await expect(backupTree(repo, ['/no/such/path'], { target: 'files' })).rejects.toThrow('path /no/such/path does not exist');
    await expect(findSnapshot(repo, 'latest')).rejects.toThrow(/no snapshot/);
  });
});

describe.each(backends)('dedup and incremental backups on $name storage', (backend) => {
  it('adds almost nothing for unchanged data, and about the change for a 1 % change', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await fs.mkdir(src);
    // 40 files of 256 KiB (below the minimum chunk: one blob each) and one 8 MiB file
    for (let i = 0; i < 40; i++) await fs.writeFile(path.join(src, `small${i}.bin`), seededBytes(`s${i}`, 256 * 1024));
    await fs.writeFile(path.join(src, 'big.bin'), seededBytes('big', 8 * 1024 * 1024));
    const total = 18 * 1024 * 1024;

    const first = await backupTree(repo, [src], { target: 'files', type: 'full' });
    expect(first.snapshot.stats.bytesAdded).toBeGreaterThan(total);

    // Unchanged, read again in full: only the tree is (at most) new.
    const again = await backupTree(repo, [src], { target: 'files', type: 'full' });
    expect(again.snapshot.stats.bytesRead).toBe(total);
    expect(again.snapshot.stats.bytesAdded).toBe(0);

    // Incremental: unchanged files are not even read.
    const incr = await backupTree(repo, [src], { target: 'files', type: 'incremental' });
    expect(incr.snapshot.parent).toBe(again.id);
    expect(incr.snapshot.stats.bytesRead).toBe(0);
    expect(incr.snapshot.stats.filesUnchanged).toBe(41);

    // ~1 % change: rewrite 2 small files (0.5 MiB of 18 MiB)
    for (const i of [3, 17]) await fs.writeFile(path.join(src, `small${i}.bin`), seededBytes(`changed${i}`, 256 * 1024));
    const changed = await backupTree(repo, [src], { target: 'files', type: 'incremental' });
    expect(changed.snapshot.stats.bytesRead).toBe(512 * 1024);
    expect(changed.snapshot.stats.bytesAdded).toBeGreaterThanOrEqual(512 * 1024);
    expect(changed.snapshot.stats.bytesAdded).toBeLessThan(512 * 1024 + 64 * 1024);
  });

  it('compares each of many sibling directories with its own tree in the parent (read ahead), also after one is removed', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    for (let d = 0; d < 12; d++) {
      await fs.mkdir(path.join(src, `d${d}`, 'inner'), { recursive: true });
      await fs.writeFile(path.join(src, `d${d}`, 'inner', 'same-name.txt'), `directory ${d}\n`);
      await fs.writeFile(path.join(src, `d${d}`, 'top.txt'), `top ${d}\n`);
    }
    await backupTree(repo, [src], { target: 'files' });
    await fs.rm(path.join(src, 'd3'), { recursive: true });
    await fs.writeFile(path.join(src, 'd7', 'inner', 'same-name.txt'), 'changed, and longer than before\n');
    const second = await backupTree(repo, [src], { target: 'files' });
    // only the changed file is read: every other directory met its own earlier tree, not a neighbour's
    expect(second.snapshot.stats.files).toBe(22);
    expect(second.snapshot.stats.filesUnchanged).toBe(21);
    const out = tempDir();
    await restoreTree(repo, second, out);
    expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));
  });

  it("reuses an unchanged directory's tree from the parent snapshot, and writes anew every tree above any change", async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    for (const d of ['a', 'b', 'c']) {
      await fs.mkdir(path.join(src, d, 'deep'), { recursive: true });
      await fs.writeFile(path.join(src, d, 'deep', 'file.txt'), `in ${d}\n`);
      await fs.symlink('deep/file.txt', path.join(src, d, 'link'));
    }
    const subtrees = async (treeId: string): Promise<Record<string, string>> => {
      const [root] = (await loadTree(repo, treeId)).nodes as DirNode[];
      return Object.fromEntries(((await loadTree(repo, root.subtree)).nodes as DirNode[]).map((n) => [n.name, n.subtree]));
    };
    const first = await backupTree(repo, [src], { target: 'files' });
    const unchanged = await backupTree(repo, [src], { target: 'files' });
    expect(unchanged.snapshot.tree).toBe(first.snapshot.tree);
    expect(unchanged.snapshot.stats.filesUnchanged).toBe(3);

    // Only b/deep's own times change: b/deep's tree is the same, b's (which lists b/deep's times) and the root's are new.
    await fs.utimes(path.join(src, 'b', 'deep'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    const touched = await backupTree(repo, [src], { target: 'files' });
    expect(touched.snapshot.tree).not.toBe(first.snapshot.tree);
    const before = await subtrees(first.snapshot.tree);
    const after = await subtrees(touched.snapshot.tree);
    expect(after.a).toBe(before.a);
    expect(after.c).toBe(before.c);
    expect(after.b).not.toBe(before.b);
    // A symlink pointed elsewhere is seen too.
    await fs.rm(path.join(src, 'c', 'link'));
    await fs.symlink('deep', path.join(src, 'c', 'link'));
    const relinked = await backupTree(repo, [src], { target: 'files' });
    expect((await subtrees(relinked.snapshot.tree)).c).not.toBe(before.c);

    const out = tempDir();
    await restoreTree(repo, relinked, out);
    expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));
    expect((await fs.stat(path.join(out, 'src', 'b', 'deep'))).mtime.toISOString()).toBe('2001-02-03T04:05:06.000Z');
  });

  it('differential backups build on the last full one', async () => {
    const { repo } = await newRepository(backend);
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const full = await backupTree(repo, [src], { target: 'files', type: 'full' });
    await backupTree(repo, [src], { target: 'files', type: 'incremental' });
    const diff = await backupTree(repo, [src], { target: 'files', type: 'differential' });
    expect(diff.snapshot.type).toBe('differential');
    expect(diff.snapshot.parent).toBe(full.id);
  });

  it('dedups across targets', async () => {
    const { repo } = await newRepository(backend);
    const data = seededBytes('shared', 4 * 1024 * 1024);
    await backupStreams(repo, [{ name: 'a', open: () => Readable.from([data]) }], { target: 'one' });
    const second = await backupStreams(repo, [{ name: 'b', open: () => Readable.from([data]) }], { target: 'two' });
    expect(second.snapshot.stats.bytesAdded).toBeLessThan(4096);
  });
});

describe('a tree backup that fails', () => {
  it('stops the walk of the directories still in flight, and reads nothing after it failed', async () => {
    const { repo } = await newRepository(localBackend);
    // The tree's root sits deep, so that its first entry, a file named long, is a path too long to
    // stat (ENAMETOOLONG): a read error even for root. It is made from inside its directory.
    const deep = path.join(tempDir(), ...Array.from({ length: 15 }, () => 'n'.repeat(250)));
    const src = path.join(deep, 'p'.repeat(3950 - deep.length), 'src');
    const longName = `a${'f'.repeat(4100 - src.length)}`;
    const made = spawnSync('sh', ['-c', 'mkdir -p "$1" && cd "$1" && echo x > "$2"', 'sh', src, longName], { encoding: 'utf8' });
    expect(made.stderr).toBe('');
    // its siblings, walked after it (sorted), whose walks must not go on once it failed
    for (let d = 1; d <= 6; d++) {
      for (let s = 0; s < 10; s++) {
        const dir = path.join(src, `b${d}`, `s${s}`);
        await fs.mkdir(dir, { recursive: true });
        await Promise.all(Array.from({ length: 100 }, (_, f) => fs.writeFile(path.join(dir, `f${f}`), `file ${d}/${s}/${f}\n`.repeat(50))));
      }
    }
    const progress = newProgress();
    await expect(backupTree(repo, [src], { target: 'files', progress })).rejects.toThrow(/ENAMETOOLONG/);
    const atFailure = progress.files;
    expect(atFailure).toBeLessThan(6000); // it did not walk on through the other directories first
    await new Promise((r) => setTimeout(r, 1000));
    expect(progress.files).toBe(atFailure); // nor afterwards, in the background
  });
});
