import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { constants as zc, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { discardBuffer } from '../../engine/bufferPool';
import { compress, compressScratch, compressSync, decompress, levelFor, reusesZstdContext } from '../../engine/compression';
import { blobId, newKeyring, open } from '../../engine/crypto/keyring';
import { sealChunk, sealSmallFile, Sealer, type SealSettings, type SmallFile } from '../../engine/sealer';
import { startSpareWorkers } from '../../engine/spareWorkers';

// The worker runs compiled code (npm test builds first); the main side is the source under test.
const SCRIPT = path.resolve(__dirname, '../../dist/engine/sealer.worker.js');
const dir = mkdtempSync(path.join(tmpdir(), 'dbm-sealer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings: SealSettings = { ring: newKeyring(), level: 3, maxBytes: 64 * 1024 };

async function plain(small: SmallFile): Promise<Buffer> {
  if (small.kind !== 'blob') throw new Error(`expected a blob, got ${small.kind}`);
  return decompress(open(settings.ring, small.sealed, Buffer.from(small.id, 'hex'), 'blob'), 'blob');
}

describe('small-file sealer', () => {
  it('seals on worker threads exactly what the main thread would', async () => {
    expect(existsSync(SCRIPT), 'run npm run build first').toBe(true);
    const files: { abs: string; content: Buffer }[] = [];
    for (let i = 0; i < 600; i++) {
      const content = Buffer.from(`file ${i} `.repeat(1 + (i % 500)));
      const abs = path.join(dir, `f${i}.txt`);
      writeFileSync(abs, content);
      files.push({ abs, content });
    }
    const sealer = new Sealer(settings, { workers: 2, script: SCRIPT });
    expect(sealer.workers).toBe(2);
    try {
      const results = await Promise.all(files.map((f) => sealer.seal(f.abs, f.content.length)));
      for (const [i, r] of results.entries()) {
        expect((await plain(r)).equals(files[i].content)).toBe(true);
        const inline = sealSmallFile(files[i].abs, settings, Buffer.alloc(settings.maxBytes));
        expect(r.kind === 'blob' && inline.kind === 'blob' && r.id === inline.id).toBe(true);
      }
    } finally {
      await sealer.close();
    }
  });

  it('reports empty, grown, vanished and symlinked files as the inline path does', async () => {
    const sub = path.join(dir, 'odd');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'empty'), '');
    writeFileSync(path.join(sub, 'big'), Buffer.alloc(settings.maxBytes, 1));
    writeFileSync(path.join(sub, 'target'), 'x');
    symlinkSync(path.join(sub, 'target'), path.join(sub, 'link'));
    const sealer = new Sealer(settings, { workers: 1, script: SCRIPT });
    try {
      const [empty, big] = await Promise.all([sealer.seal(path.join(sub, 'empty'), 0), sealer.seal(path.join(sub, 'big'), 10)]);
      expect(empty.kind).toBe('empty');
      expect(big.kind).toBe('grew');
      await expect(sealer.seal(path.join(sub, 'gone'), 1)).rejects.toMatchObject({ code: 'ENOENT' });
      // swapped for a symlink after it was listed: never followed
      await expect(sealer.seal(path.join(sub, 'link'), 1)).rejects.toMatchObject({ code: 'ELOOP' });
    } finally {
      await sealer.close();
    }
  });

  it('finishes every file when a worker dies with work in hand', async () => {
    const files = Array.from({ length: 400 }, (_, i) => {
      const abs = path.join(dir, `d${i}.txt`);
      writeFileSync(abs, `dying ${i}`.repeat(50));
      return abs;
    });
    const sealer = new Sealer(settings, { workers: 2, script: SCRIPT });
    const warnings: string[] = [];
    const onWarning = (w: Error): number => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const pending = files.map((f) => sealer.seal(f, 500));
      // kill one worker while its batches are in flight
      await new Promise((r) => setImmediate(r));
      const slots = (sealer as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
      await slots[0].worker.terminate();
      const results = await Promise.all(pending);
      for (const [i, r] of results.entries()) expect((await plain(r)).toString()).toBe(`dying ${i}`.repeat(50));
      expect(sealer.workers).toBe(1);
      expect(warnings.join('\n')).toMatch(/sealing worker stopped/);
    } finally {
      process.off('warning', onWarning);
      await sealer.close();
    }
  });

  it('reuses one zstd context for small inputs on this Node.js, frame by frame', async () => {
    expect(reusesZstdContext(3)).toBe(true);
    for (let i = 0; i < 200; i++) {
      const data = Buffer.from(`${i} lorem ipsum `.repeat(20 + i));
      const { mode, data: packed } = compressSync(data, 3);
      expect(mode).toBe(1);
      const payload = Buffer.concat([Buffer.from([mode]), packed]);
      expect((await decompress(payload, 'x')).equals(data)).toBe(true);
      expect((await decompress(payload, 'x', data.length)).equals(data)).toBe(true); // the reused context
    }
  });

  it('falls back, and recovers, when a payload is not what the index says', async () => {
    const data = Buffer.from('index says otherwise '.repeat(100));
    const payload = Buffer.concat([Buffer.from([1]), compressSync(data, 3).data]);
    // a wrong size hint: the reused context drops it, zstd proper decodes it
    expect((await decompress(payload, 'x', data.length - 7)).equals(data)).toBe(true);
    const corrupt = Buffer.from(payload);
    corrupt.fill(0x55, 8, 40);
    await expect(decompress(corrupt, 'blob x', data.length)).rejects.toThrow(/blob x: zstd data is corrupt/);
    // a truncated frame leaves the context mid-frame: the next payload must still decode
    await expect(decompress(payload.subarray(0, payload.length - 10), 'x', data.length)).rejects.toThrow(/corrupt/);
    expect((await decompress(payload, 'x', data.length)).equals(data)).toBe(true);
    expect(reusesZstdContext(3)).toBe(true);
  });
  it('seals chunks on a worker exactly as the main thread would, into the memory the chunk is handed back in', async () => {
    const chunks = [
      Buffer.from('a compressible log line, again and again\n'.repeat(30_000)), // ~1.2 MB
      randomBytes(700 * 1024), // stored raw
      Buffer.from('short'),
      Buffer.from('another compressible chunk '.repeat(90_000)), // larger than the first: the worker's buffer grows
    ];
    const sealer = new Sealer(settings, { workers: 1, script: SCRIPT });
    try {
      const results = await Promise.all(
        chunks.map((c) => {
          const id = blobId(settings.ring, c);
          const handed = Buffer.allocUnsafeSlow(c.length);
          c.copy(handed);
          return sealer.sealChunk(id, handed)!.then((r) => ({ id, r, handed }));
        }),
      );
      for (const [i, { id, r, handed }] of results.entries()) {
        expect(handed.length, 'the chunk went to the worker').toBe(0);
        expect(r.memory.length, 'its memory comes back whole').toBe(chunks[i].length);
        const body = r.pieces[1];
        expect(body.buffer === r.memory.buffer, 'the sealed body is in that memory').toBe(true);
        expect(body.byteOffset).toBe(0);
        const sealed = Buffer.concat(r.pieces);
        const inline = sealChunk(id, Buffer.from(chunks[i]), settings);
        expect(sealed.length).toBe(Buffer.concat(inline).length);
        for (const pieces of [r.pieces, inline]) {
          const plainBytes = await decompress(open(settings.ring, Buffer.concat(pieces), Buffer.from(id, 'hex'), 'chunk'), 'chunk');
          expect(plainBytes.equals(chunks[i])).toBe(true);
        }
      }
    } finally {
      await sealer.close();
    }
    expect(new Sealer(settings, { workers: 0, script: SCRIPT }).sealChunk('00', Buffer.alloc(1)), 'no worker: the caller seals it').toBeNull();
  });

  it('fails a chunk whose worker dies, with the reason, and seals files on', async () => {
    const sealer = new Sealer(settings, { workers: 1, script: SCRIPT });
    const warnings: string[] = [];
    const onWarning = (w: Error): number => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const chunk = randomBytes(4 * 1024 * 1024);
      const pending = sealer.sealChunk(blobId(settings.ring, chunk), chunk)!;
      const file = path.join(dir, 'after-death.txt');
      writeFileSync(file, 'sealed on the main thread');
      await new Promise((r) => setImmediate(r));
      const slots = (sealer as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
      await slots[0].worker.terminate();
      await expect(pending).rejects.toThrow(/sealing worker stopped .* with a chunk in hand/);
      expect((await plain(await sealer.seal(file, 25))).toString()).toBe('sealed on the main thread');
    } finally {
      process.off('warning', onWarning);
      await sealer.close();
    }
  });

  it('compresses chunks into a reused buffer: the result is a view, valid until the next call', () => {
    const a = Buffer.from('first chunk of text '.repeat(10_000));
    const b = Buffer.from('second chunk, other text '.repeat(10_000));
    const first = compressScratch(a, 3);
    expect(first.mode).toBe(1);
    const kept = Buffer.from(first.data);
    const second = compressScratch(b, 3);
    expect(second.data.buffer).toBe(first.data.buffer);
    expect(zstdDecompressSync(kept).equals(a)).toBe(true);
    expect(zstdDecompressSync(second.data).equals(b)).toBe(true);
  });

  it('frees a buffer that owns its memory (but for a given slack), and leaves a slice of shared memory alone', () => {
    const own = Buffer.allocUnsafeSlow(1 << 20);
    discardBuffer(own);
    expect(own.length).toBe(0);
    const shared = Buffer.from('pooled'); // a slice of Node's shared pool
    discardBuffer(shared);
    expect(shared.toString()).toBe('pooled');
    const view = Buffer.allocUnsafeSlow(1 << 20).subarray(0, 10);
    discardBuffer(view);
    expect(view.length).toBe(10);
    // a blob's data after its one mode byte: all of its memory but the slack
    const payload = Buffer.allocUnsafeSlow(1025).subarray(1);
    discardBuffer(payload, 1);
    expect(payload.length).toBe(0);
    const wider = Buffer.allocUnsafeSlow(1026).subarray(1, 1025); // two bytes more than the slack
    discardBuffer(wider, 1);
    expect(wider.length).toBe(1024);
  });
});

describe('the level each chunk is compressed at', () => {
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  /** Rows as a plain dump has them when their columns hold hashes: zstd's fastest level packs these smaller than level 3. */
  const hashRows = Buffer.from(
    Array.from({ length: 15_000 }, (_, i) => `${i}\tuser${i}@example.com\t${md5(String(i))}\t{"city": "Berlin", "tags": ["${md5(String(i * 7))}", ${i % 13}]}\n`).join(''),
  );
  /** Source code, where level 3 earns its time: 1 MiB pieces of TypeScript's compiler. */
  const source = readFileSync(require.resolve('typescript/lib/typescript.js'));
  const oneShot = (data: Buffer, level: number): number =>
    zstdCompressSync(data, { params: { [zc.ZSTD_c_compressionLevel]: level, [zc.ZSTD_c_checksumFlag]: 0 } }).length;
  /** Which of two levels `length` bytes came from (a reused context's frame can differ from a one-shot's by a few bytes). */
  const madeAt = (data: Buffer, length: number, a: number, b: number): number =>
    Math.abs(length - oneShot(data, a)) < Math.abs(length - oneShot(data, b)) ? a : b;

  it('compresses data the fast level packs smaller at that level, and everything else at the level asked for', async () => {
    expect(oneShot(hashRows, 1)).toBeLessThan(oneShot(hashRows, 3) * 0.95); // the premise
    expect(levelFor(hashRows, 3)).toBe(1);
    const scratch = compressScratch(hashRows, 3);
    expect(madeAt(hashRows, scratch.data.length, 1, 3)).toBe(1);
    expect(zstdDecompressSync(scratch.data).equals(hashRows)).toBe(true);
    for (const encoded of [compressSync(hashRows, 3), await compress(hashRows, 3)]) {
      expect(madeAt(hashRows, encoded.data.length, 1, 3)).toBe(1);
      expect((await decompress(Buffer.concat([Buffer.from([encoded.mode]), encoded.data]), 'x')).equals(hashRows)).toBe(true);
    }
    for (let at = 0; at + (1 << 20) <= source.length; at += 1 << 20) {
      const chunk = source.subarray(at, at + (1 << 20));
      expect(levelFor(chunk, 3)).toBe(3);
      expect(madeAt(chunk, compressScratch(chunk, 3).data.length, 1, 3)).toBe(3);
    }
    // chunks at either level are compressed into the same scratch buffer: one chunk's worth of memory per thread
    const atFast = compressScratch(hashRows, 3);
    const atDefault = compressScratch(source.subarray(0, 1 << 20), 3);
    expect(atDefault.data.buffer === atFast.data.buffer).toBe(true); // (not toBe on the buffers: a failure would print megabytes)
    // a higher level asked for is kept where it pays, and the fast level asked for stays the fast level
    expect(levelFor(source.subarray(0, 1 << 20), 6)).toBe(6);
    expect(levelFor(hashRows, 1)).toBe(1);
  });

  it('keeps random data raw, and small inputs at the level asked for, unprobed', () => {
    expect(levelFor(randomBytes(1 << 20), 3)).toBe(0);
    expect(compressScratch(randomBytes(1 << 20), 3).mode).toBe(0);
    expect(levelFor(hashRows.subarray(0, 200_000), 3)).toBe(3);
    expect(levelFor(hashRows, 0)).toBe(0);
  });
});

describe('sealing workers booted before the keys are known', () => {
  const workerOf = (sealer: Sealer): unknown => (sealer as unknown as { slots: { worker: unknown }[] }).slots[0]?.worker;

  it('a spare booted first is the one the sealer takes, and it seals with the keys it is given then', async () => {
    const [spare] = startSpareWorkers({ script: SCRIPT }, 1);
    await new Promise((resolve) => spare.once('online', resolve));
    const sealer = new Sealer(settings, { workers: 1, script: SCRIPT });
    try {
      const chunk = Buffer.from('sealed by a spare worker '.repeat(40_000));
      const id = blobId(settings.ring, chunk);
      const handed = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(handed);
      const sealed = await sealer.sealChunk(id, handed)!;
      expect(workerOf(sealer)).toBe(spare);
      expect((await decompress(open(settings.ring, Buffer.concat(sealed.pieces), Buffer.from(id, 'hex'), 'chunk'), 'chunk')).equals(chunk)).toBe(true);
      const file = path.join(dir, 'spare.txt');
      writeFileSync(file, 'a small file, sealed by the spare');
      const small = await sealer.seal(file, 33);
      expect((await plain(small)).toString()).toBe('a small file, sealed by the spare');
      expect(small.kind === 'blob' && small.id).toBe(blobId(settings.ring, Buffer.from('a small file, sealed by the spare')));
    } finally {
      await sealer.close();
    }
  });

  it('a spare that died before it was taken is passed over for a new worker', async () => {
    const [spare] = startSpareWorkers({ script: SCRIPT }, 1);
    await spare.terminate();
    await new Promise((resolve) => setImmediate(resolve));
    const sealer = new Sealer(settings, { workers: 1, script: SCRIPT });
    try {
      const file = path.join(dir, 'after-spare.txt');
      writeFileSync(file, 'sealed by a new worker');
      expect((await plain(await sealer.seal(file, 22))).toString()).toBe('sealed by a new worker');
      expect(workerOf(sealer)).toBeDefined();
      expect(workerOf(sealer)).not.toBe(spare);
    } finally {
      await sealer.close();
    }
  });

  it('a spare nobody takes keeps no process alive', () => {
    const sealerModule = path.resolve(__dirname, '../../dist/engine/sealer.js');
    const res = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(sealerModule)}).prestartSealWorkers(); console.log('started')`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.error, 'the process ended by itself').toBeUndefined();
    expect(res.signal).toBeNull();
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toBe('started');
  });
});
