import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compressSync } from '../../engine/compression';
import { blobId, newKeyring } from '../../engine/crypto/keyring';
import { CorruptionError } from '../../engine/errors';
import { packKey } from '../../engine/repository/layout';
import { sealBlob } from '../../engine/repository/pack';
import { RestoreWriter, writeRangeSync, type FileFinish, type RangeBlob } from '../../engine/restoreWriter';
import { startSpareWorkers } from '../../engine/spareWorkers';
import { PASSPHRASE, tempDir } from '../support/backends';
import { describeTree, makeSampleTree, seededBytes, textBytes, writeRandomFiles } from '../support/trees';

// The worker runs compiled code (npm test builds first); the main side is the source under test.
const DIST = path.resolve(__dirname, '../../dist/engine');
const SCRIPT = path.join(DIST, 'restoreWriter.worker.js');
const ring = newKeyring();
const PACK = 'ab'.repeat(32);

/** Blobs sealed one after another, as a pack range holds them. */
function range(plains: Buffer[]): { bytes: Buffer; blobs: Omit<RangeBlob, 'targets'>[] } {
  const parts: Buffer[] = [];
  const blobs: Omit<RangeBlob, 'targets'>[] = [];
  let at = 0;
  for (const plain of plains) {
    const id = blobId(ring, plain);
    const sealed = Buffer.concat(sealBlob(ring, id, compressSync(plain, 3)));
    blobs.push({ id, at, length: sealed.length, rawLength: plain.length });
    parts.push(sealed);
    at += sealed.length;
  }
  return { bytes: Buffer.concat(parts), blobs };
}

describe('restore writer', () => {
  it('writes a range on its thread exactly as this thread would, a blob at every place it goes', async () => {
    expect(existsSync(SCRIPT), 'run npm run build first').toBe(true);
    const plains = [textBytes('one', 70_000), seededBytes('two', 300_000), Buffer.from('three')];
    const { bytes, blobs } = range(plains);
    const dir = tempDir();
    const files = ['worker-a', 'worker-b', 'inline-a', 'inline-b'].map((n) => path.join(dir, n));
    const fds = files.map((f) => openSync(f, 'w'));
    const writer = new RestoreWriter(ring, { workers: 1, script: SCRIPT });
    try {
      const targets = (a: number, b: number): RangeBlob[] => [
        { ...blobs[0], targets: [{ fd: fds[a], position: 0 }] },
        { ...blobs[1], targets: [{ fd: fds[a], position: 70_000 }, { fd: fds[b], position: 0 }] },
        { ...blobs[2], targets: [{ fd: fds[b], position: 300_000 }] },
      ];
      const onWorker = writer.write({ pack: PACK, bytes: Buffer.from(bytes), blobs: targets(0, 1) });
      expect(onWorker).not.toBeNull();
      // its hands are full (one range at a time): the caller writes the next itself
      expect(writer.write({ pack: PACK, bytes: Buffer.from(bytes), blobs: targets(2, 3) })).toBeNull();
      expect(writeRangeSync(ring, { pack: PACK, bytes, blobs: targets(2, 3) })).toBe(370_000 + 300_005);
      expect(await onWorker).toBe(370_000 + 300_005);
    } finally {
      await writer.close();
      fds.forEach((fd) => closeSync(fd));
    }
    const a = Buffer.concat([plains[0], plains[1]]);
    const b = Buffer.concat([plains[1], plains[2]]);
    expect(readFileSync(files[0]).equals(a)).toBe(true);
    expect(readFileSync(files[1]).equals(b)).toBe(true);
    expect(readFileSync(files[2]).equals(a)).toBe(true);
    expect(readFileSync(files[3]).equals(b)).toBe(true);
  });

  it('takes a thread booted before the keys were known, and writes with the keys it is given then', async () => {
    const [spare] = startSpareWorkers({ script: SCRIPT }, 1);
    await new Promise((resolve) => spare.once('online', resolve));
    const plains = [textBytes('spare', 50_000), seededBytes('spare-2', 200_000)];
    const { bytes, blobs } = range(plains);
    const file = path.join(tempDir(), 'by-spare');
    const fd = openSync(file, 'w');
    const writer = new RestoreWriter(ring, { workers: 1, script: SCRIPT });
    try {
      expect((writer as unknown as { worker: unknown }).worker).toBe(spare);
      const onWorker = writer.write({ pack: PACK, bytes, blobs: [{ ...blobs[0], targets: [{ fd, position: 0 }] }, { ...blobs[1], targets: [{ fd, position: 50_000 }] }] });
      expect(await onWorker).toBe(250_000);
    } finally {
      await writer.close();
      closeSync(fd);
    }
    expect(readFileSync(file).equals(Buffer.concat(plains))).toBe(true);
  });

  it("rejects a corrupt blob as corruption, naming it, and a failed write with the system's code", async () => {
    const { bytes, blobs } = range([textBytes('fine', 10_000), textBytes('bad', 10_000)]);
    bytes[blobs[1].at + 40] ^= 0x01;
    const dir = tempDir();
    const out = openSync(path.join(dir, 'out'), 'w');
    writeFileSync(path.join(dir, 'read-only'), '');
    const readOnly = openSync(path.join(dir, 'read-only'), 'r');
    const writer = new RestoreWriter(ring, { workers: 1, script: SCRIPT });
    try {
      const bad = writer.write({ pack: PACK, bytes: Buffer.from(bytes), blobs: blobs.map((b) => ({ ...b, targets: [{ fd: out, position: 0 }] })) });
      await expect(bad).rejects.toBeInstanceOf(CorruptionError);
      await expect(bad).rejects.toThrow(new RegExp(`blob ${blobs[1].id.slice(0, 12)} in pack ${PACK.slice(0, 12)}`));
      const { bytes: ok, blobs: okBlobs } = range([textBytes('fine', 10_000)]);
      const unwritable = writer.write({ pack: PACK, bytes: ok, blobs: okBlobs.map((b) => ({ ...b, targets: [{ fd: readOnly, position: 0 }] })) });
      await expect(unwritable).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      await writer.close();
      closeSync(out);
      closeSync(readOnly);
    }
  });

  it('fails the range in hand when its thread dies, and takes no more', async () => {
    const { bytes, blobs } = range([seededBytes('big', 4_000_000)]);
    const dir = tempDir();
    const out = openSync(path.join(dir, 'out'), 'w');
    const writer = new RestoreWriter(ring, { workers: 1, script: SCRIPT });
    try {
      const job = writer.write({ pack: PACK, bytes, blobs: blobs.map((b) => ({ ...b, targets: [{ fd: out, position: 0 }] })) });
      // at once: the thread is still starting, so the range is surely in hand
      await (writer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await expect(job).rejects.toThrow(/the restore's writing thread stopped/);
      expect(writer.write({ pack: PACK, bytes: Buffer.from('x'), blobs: [] })).toBeNull();
    } finally {
      await writer.close();
      closeSync(out);
    }
  });

  it('finishes files on its thread: owner (as root), mode and mtime, then closes them; a failure is reported after every one is closed', async () => {
    const dir = tempDir();
    const files = ['a', 'b', 'c'].map((n) => path.join(dir, n));
    const fds = files.map((f) => openSync(f, 'w', 0o600));
    const asRoot = process.getuid?.() === 0;
    const finish = (fd: number, i: number): FileFinish => ({ fd, uid: asRoot ? 65534 : process.getuid!(), gid: asRoot ? 65534 : process.getgid!(), mode: 0o640 + i, mtime: 1_600_000_000 + i + 0.25 });
    const writer = new RestoreWriter(ring, { workers: 1, script: SCRIPT });
    try {
      await writer.finish(fds.slice(0, 2).map(finish));
      for (const [i, file] of files.slice(0, 2).entries()) {
        const st = statSync(file);
        expect(st.mode & 0o7777).toBe(0o640 + i);
        expect(st.mtimeMs).toBe((1_600_000_000 + i + 0.25) * 1000);
        if (asRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);
        expect(() => fstatSync(fds[i])).toThrow(/EBADF/); // closed
      }
      // a descriptor that is not open fails the finish, and the one after it is still finished and closed
      const bad = { ...finish(fds[0], 0), fd: 2 ** 30 };
      await expect(writer.finish([bad, finish(fds[2], 2)])).rejects.toMatchObject({ code: 'EBADF' });
      expect(statSync(files[2]).mode & 0o7777).toBe(0o642);
      expect(() => fstatSync(fds[2])).toThrow(/EBADF/);
    } finally {
      await writer.close();
    }
  });

  it('closes the main thread\'s descriptors without a warning for each (Node tracks a worker\'s own)', () => {
    const dir = tempDir();
    const program = `
      const fs = require('node:fs');
      const { RestoreWriter } = require(${JSON.stringify(path.join(DIST, 'restoreWriter.js'))});
      const { newKeyring } = require(${JSON.stringify(path.join(DIST, 'crypto/keyring.js'))});
      const writer = new RestoreWriter(newKeyring(), { workers: 1 });
      const fds = [1, 2, 3].map((i) => fs.openSync(${JSON.stringify(dir)} + '/f' + i, 'w'));
      writer.finish(fds.map((fd) => ({ fd, uid: process.getuid(), gid: process.getgid(), mode: 0o644, mtime: 1 }))).then(() => writer.close());
    `;
    const run = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(statSync(path.join(dir, 'f3')).mtimeMs).toBe(1000);
  });

  it('restores a tree through it (the compiled engine), and stops at a corrupt pack', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const engine = require(DIST) as typeof import('../../engine');
    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    await fs.mkdir(path.join(src, 'many'));
    await writeRandomFiles(path.join(src, 'many'), 600, 3000);
    await fs.writeFile(path.join(src, 'large.bin'), seededBytes('large', 9_000_000));
    const location = path.join(tempDir(), 'repo');
    const repo = await engine.Repository.init(engine.openStorage(location), { passphrase: PASSPHRASE });
    const ref = await engine.backupTree(repo, [src], { target: 'files' });
    const out = tempDir();
    const progress = await engine.restoreTree(repo, ref, out);
    expect(progress.files).toBe(609 + 1);
    expect(await describeTree(path.join(out, 'src'))).toEqual(await describeTree(src));

    // every data blob gets a flipped bit (the trees stay readable, so the restore reaches the writing)
    const storage = engine.openStorage(location);
    for (const [pack, info] of repo.index.packs) {
      const key = packKey(pack);
      const data = await storage.get(key);
      for (const blob of info.blobs) if (blob.type === 'data') data[blob.offset + 40] ^= 0x01;
      await storage.put(key, data);
    }
    await expect(engine.restoreTree(repo, ref, tempDir())).rejects.toThrow(/blob [0-9a-f]{12} in pack [0-9a-f]{12}/);
  });
});
