import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressSync, decompress, reusesZstdContext } from '../../engine/compression';
import { newKeyring, open } from '../../engine/crypto/keyring';
import { sealSmallFile, SmallFileSealer, type SealSettings, type SmallFile } from '../../engine/smallFileSealer';

// The worker runs compiled code (npm test builds first); the main side is the source under test.
const SCRIPT = path.resolve(__dirname, '../../dist/engine/smallFileSealer.worker.js');
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
    const sealer = new SmallFileSealer(settings, { workers: 2, script: SCRIPT });
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
    const sealer = new SmallFileSealer(settings, { workers: 1, script: SCRIPT });
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
    const sealer = new SmallFileSealer(settings, { workers: 2, script: SCRIPT });
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
});
