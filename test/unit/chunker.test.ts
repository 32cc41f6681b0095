import { describe, expect, it } from 'vitest';
import { Chunker, DEFAULT_CHUNKER } from '../../engine/chunker';
import { sourceOf } from '../support/byteSource';
import { seededBytes } from '../support/trees';

const params = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024, seed: 'ab'.repeat(32) };

async function cut(chunker: Chunker, data: Buffer, pieceSize = 1 << 20, work?: Buffer): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunker.chunks(sourceOf(data, pieceSize), work)) out.push(Buffer.from(c));
  return out;
}

/** The cut lengths with the whole input known at every cut: the reference. */
function wholeCuts(chunker: Chunker, data: Buffer): number[] {
  const lengths: number[] = [];
  for (let at = 0; at < data.length; at += lengths[lengths.length - 1]) lengths.push(chunker.cut(data, at, data.length));
  return lengths;
}

describe('chunker', () => {
  const data = seededBytes('chunker', 4 * 1024 * 1024);

  it('reassembles to the input, within min and max sizes', async () => {
    const chunks = await cut(new Chunker(params), data);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    chunks.slice(0, -1).forEach((c) => {
      expect(c.length).toBeGreaterThanOrEqual(params.min);
      expect(c.length).toBeLessThanOrEqual(params.max);
    });
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(params.min);
    expect(mean).toBeLessThan(params.max / 2);
  });

  it('cuts at the same places whatever the read sizes', async () => {
    const chunker = new Chunker(params);
    const a = (await cut(chunker, data, 1 << 20)).map((c) => c.length);
    const b = (await cut(chunker, data, 4099)).map((c) => c.length);
    expect(b).toEqual(a);
  });

  it('cuts where a scan of the whole input does, however the bytes arrive, in a buffer of one chunk', async () => {
    const chunker = new Chunker(params);
    const whole = wholeCuts(chunker, data);
    for (const piece of [1, 777, 4096, 65_537, params.max - 1, params.max + 3]) {
      expect((await cut(chunker, data, piece)).map((c) => c.length), `reads of ${piece} bytes`).toEqual(whole);
    }
    // data with long stretches and no cut point: chunks of exactly max, moved to the front of the buffer
    const mixed = Buffer.concat([Buffer.alloc(params.max * 3 + 5), data.subarray(0, 300_000), Buffer.alloc(params.max + 1)]);
    expect((await cut(chunker, mixed, 5000)).map((c) => c.length)).toEqual(wholeCuts(chunker, mixed));
    await expect(cut(chunker, data, 4096, Buffer.alloc(params.max - 1))).rejects.toThrow(/work buffer needs/);
  });

  it('resynchronises after an insertion: later chunks are unchanged', async () => {
    const chunker = new Chunker(params);
    const edited = Buffer.concat([data.subarray(0, 1000), Buffer.from('INSERTED'), data.subarray(1000)]);
    const before = new Set((await cut(chunker, data)).map((c) => c.toString('base64')));
    const after = await cut(chunker, edited);
    const shared = after.filter((c) => before.has(c.toString('base64'))).length;
    expect(shared).toBeGreaterThanOrEqual(after.length - 2);
  });

  it('cuts where it always has: a repository keeps deduplicating across versions', () => {
    // Cut lengths from the byte-at-a-time loop (before the loop took four bytes a step), for the
    // default sizes and the tests' small ones. A change here breaks dedup against existing snapshots.
    const cuts = (c: Chunker, input: Buffer): number[] => {
      const out: number[] = [];
      for (let at = 0; at < input.length; at += out[out.length - 1]) out.push(c.cut(input, at, input.length));
      return out;
    };
    expect(cuts(new Chunker({ ...DEFAULT_CHUNKER, seed: '5e'.repeat(32) }), seededBytes('golden', 24 * 1024 * 1024))).toEqual(
      [1458946, 1115282, 748541, 1267651, 807575, 1085941, 1434122, 1104754, 1123872, 1423645, 1551165, 1095307, 1174662, 1054103, 1256069, 1152300, 1051198, 1224034, 2102906, 1072839, 680599, 180313],
    );
    expect(cuts(new Chunker(params), seededBytes('golden-small', 2 * 1024 * 1024))).toEqual(
      [79614, 52533, 95832, 56464, 73592, 87854, 87579, 17112, 70103, 75194, 76734, 31199, 35005, 77749, 120466, 70143, 83118, 23999, 66537, 67579, 75389, 83961, 90765, 73354, 66220, 68037, 77465, 87452, 92543, 33560],
    );
  });

  it('depends on the repository seed', async () => {
    const a = (await cut(new Chunker(params), data)).map((c) => c.length);
    const b = (await cut(new Chunker({ ...params, seed: 'cd'.repeat(32) }), data)).map((c) => c.length);
    expect(b).not.toEqual(a);
  });

  it('gives an empty source no chunks and a tiny one a single chunk', async () => {
    const chunker = new Chunker(params);
    expect(await cut(chunker, Buffer.alloc(0))).toEqual([]);
    expect((await cut(chunker, Buffer.from('abc'))).map(String)).toEqual(['abc']);
  });

  it('never exceeds max on data with no cut point', async () => {
    const zeros = Buffer.alloc(1024 * 1024);
    const chunks = await cut(new Chunker(params), zeros);
    expect(chunks.every((c) => c.length <= params.max)).toBe(true);
    expect(Buffer.concat(chunks).equals(zeros)).toBe(true);
  });
});
