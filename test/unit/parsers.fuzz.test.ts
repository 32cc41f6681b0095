import fc from 'fast-check';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompress, frameContentSize, ZSTD } from '../../engine/compression';
import { newKeyring, seal } from '../../engine/crypto/keyring';
import { BackupError } from '../../engine/errors';
import { validateIndexFile } from '../../engine/repository/blobIndex';
import { MAX_BLOB_BYTES } from '../../engine/repository/layout';
import { decodeHeader, parsePack } from '../../engine/repository/pack';
import { validateSnapshot } from '../../engine/snapshot';
import { parseTree } from '../../engine/tree';

/**
 * The parsers of what the repository stores, fed random and mutated input: each answers or throws
 * one of the engine's own errors (a one-line message), never a TypeError, a hang or an allocation
 * sized by the input. Inputs that once broke them are kept below as regression cases.
 */
const HEX = 'ab'.repeat(32);
const RUNS = { numRuns: 2000 };

/** Calls fn; an error must be the engine's, with a one-line message. */
function answersOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof BackupError)) throw new Error(`not an engine error: ${(err as Error)?.stack ?? String(err)}`);
    expect(err.message).not.toContain('\n');
  }
}

const validTree = { nodes: [{ name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '1', size: 3, content: [HEX] }, { name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '1', subtree: HEX }] };
const validSnapshot = { version: 1, time: '2026-11-30T00:00:00.000Z', target: 'files', type: 'full', kind: 'tree', hostname: 'h', username: 'u', paths: ['/srv'], tags: { job: 'j' }, tree: HEX, parent: null, stats: { files: 1 }, program: 'dbm' };
const validIndex = { version: 1, packs: [{ id: HEX, size: 100, blobs: [{ id: HEX, type: 'data', offset: 0, length: 50, rawLength: 60 }] }] };

/** A JSON value with one field somewhere replaced by anything. */
function mutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, at: (string | number)[]): void => {
    paths.push(at);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  walk(base, []);
  return fc.tuple(fc.constantFrom(...paths), fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.constant(null))).map(([at, value]) => {
    if (at.length === 0) return value;
    const copy = structuredClone(base) as Record<string | number, unknown>;
    let node = copy;
    for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    node[at[at.length - 1]] = value;
    return copy;
  });
}

describe('repository parsers under random and mutated input', () => {
  it('trees', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => answersOrRefuses(() => parseTree(Buffer.from(bytes), HEX))), RUNS);
    fc.assert(fc.property(fc.jsonValue(), (v) => answersOrRefuses(() => parseTree(Buffer.from(JSON.stringify(v) ?? ''), HEX))), RUNS);
    fc.assert(fc.property(mutated(validTree), (v) => answersOrRefuses(() => parseTree(Buffer.from(JSON.stringify(v) ?? 'null'), HEX))), RUNS);
  });

  it('snapshot manifests', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => answersOrRefuses(() => validateSnapshot(v, HEX))), RUNS);
    fc.assert(fc.property(mutated(validSnapshot), (v) => answersOrRefuses(() => validateSnapshot(v, HEX))), RUNS);
  });

  it('index objects', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => answersOrRefuses(() => validateIndexFile(v, 'index x'))), RUNS);
    fc.assert(fc.property(mutated(validIndex), (v) => answersOrRefuses(() => validateIndexFile(v, 'index x'))), RUNS);
  });

  it('pack headers: random bytes, and random headers sealed with the right key', () => {
    const ring = newKeyring();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => answersOrRefuses(() => parsePack(ring, Buffer.from(bytes), HEX))), RUNS);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 41 * 8 }), fc.nat(4096), (header, dataLength) => {
        const sealed = seal(ring, Buffer.from(header), 'dbm-pack-header');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(sealed.length);
        answersOrRefuses(() => {
          for (const e of parsePack(ring, Buffer.concat([Buffer.alloc(dataLength), sealed, length]), HEX)) {
            expect(e.length).toBeLessThanOrEqual(MAX_BLOB_BYTES);
            expect(e.rawLength).toBeLessThanOrEqual(MAX_BLOB_BYTES);
          }
        });
      }),
      RUNS,
    );
  });

  it('compressed payloads: corrupt ones are refused in one line, a bomb is refused without inflating', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), fc.nat(2 ** 32 - 1), async (bytes, hint) => {
        await decompress(Buffer.concat([Buffer.from([ZSTD]), Buffer.from(bytes)]), 'blob x', hint).then(
          () => undefined,
          (err: Error) => expect(err.message).toMatch(/^blob x: /),
        );
      }),
      { numRuns: 300 },
    );
    const bomb = zstdCompressSync(Buffer.alloc(MAX_BLOB_BYTES + 1024 * 1024));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await expect(decompress(Buffer.concat([Buffer.from([ZSTD]), bomb]), 'blob x', 0)).rejects.toThrow(/^blob x: zstd data is corrupt/);
  });

  it("zstd frame headers: the declared size is read back for every size class, and random bytes give a number, never a throw", () => {
    for (const size of [0, 1, 255, 256, 65_791, 65_792, 70_000, 2_000_000]) {
      const data = Buffer.alloc(size, 'a');
      expect(frameContentSize(zstdCompressSync(data))).toBe(size);
      expect(frameContentSize(zstdCompressSync(data, { pledgedSrcSize: size }))).toBe(size);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.boolean(), (bytes, magic) => {
        const frame = Buffer.from(bytes);
        if (magic && frame.length >= 4) frame.writeUInt32LE(0xfd2fb528, 0);
        const size = frameContentSize(frame);
        expect(Number.isSafeInteger(size) && size >= 0).toBe(true);
      }),
      RUNS,
    );
  });

  // inputs that once broke a parser (a TypeError, or a check that let them through)
  it.each([
    ['a tree entry that is null', () => parseTree(Buffer.from('{"nodes":[null]}'), HEX)],
    ['a tree entry that is a number', () => parseTree(Buffer.from('{"nodes":[7]}'), HEX)],
    ['a directory whose subtree is not a string', () => parseTree(Buffer.from(`{"nodes":[{"name":"d","type":"dir","subtree":{"toString":1}}]}`), HEX)],
    ['a file without a size', () => parseTree(Buffer.from(`{"nodes":[{"name":"f","type":"file","content":[]}]}`), HEX)],
    ['an index pack that is null', () => validateIndexFile({ version: 1, packs: [null] }, 'index x')],
    ['an index blob that is null', () => validateIndexFile({ version: 1, packs: [{ id: HEX, size: 1, blobs: [null] }] }, 'index x')],
    ['an index blob of 4 GiB', () => validateIndexFile({ version: 1, packs: [{ id: HEX, size: 1, blobs: [{ id: HEX, type: 'data', offset: 0, length: 2 ** 32, rawLength: 1 }] }] }, 'index x')],
    ['a snapshot whose tags are null', () => validateSnapshot({ ...validSnapshot, tags: null }, HEX)],
    ['a snapshot whose paths hold a number', () => validateSnapshot({ ...validSnapshot, paths: [1] }, HEX)],
    ['a snapshot whose time is not a time', () => validateSnapshot({ ...validSnapshot, time: 'yesterday' }, HEX)],
    ['a pack header naming a blob of 4 GiB', () => decodeHeader(Buffer.concat([Buffer.from([0]), Buffer.alloc(32), Buffer.from([255, 255, 255, 255]), Buffer.alloc(4)]), 2 ** 32 - 1, 'pack x')],
  ])('refuses %s with a one-line engine error', (_what, fn) => {
    expect(fn).toThrow(BackupError);
  });
});
