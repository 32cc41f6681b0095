import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobIndex } from '../../engine/repository/blobIndex';
import type { PackEntry } from '../../engine/repository/pack';

const idOf = (s: string) => createHash('sha256').update(s).digest('hex');

function entries(prefix: string, n: number): PackEntry[] {
  let offset = 0;
  return Array.from({ length: n }, (_, i) => {
    const e: PackEntry = { id: idOf(`${prefix}${i}`), type: i % 7 === 0 ? 'tree' : 'data', offset, length: 100 + i, rawLength: 1000 + i };
    offset += e.length;
    return e;
  });
}

describe('blob index', () => {
  it('finds every blob of many packs where it was stored, through its growth', () => {
    const index = new BlobIndex();
    const packs = Array.from({ length: 50 }, (_, p) => ({ id: idOf(`pack${p}`), size: 5_000_000 + p, blobs: entries(`p${p}-`, 1000) }));
    index.addFile({ version: 1, packs });
    expect(index.blobCount).toBe(50_000);
    expect(index.packs.size).toBe(50);
    for (const p of [packs[0], packs[17], packs[49]]) {
      for (const e of [p.blobs[0], p.blobs[500], p.blobs[999]]) {
        expect(index.has(e.id)).toBe(true);
        expect(index.get(e.id)).toEqual({ pack: p.id, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength });
      }
      expect(index.packs.get(p.id)!.size).toBe(p.size);
      expect(index.packs.get(p.id)!.blobs).toEqual(p.blobs);
    }
    expect([...index.packs.keys()]).toEqual(packs.map((p) => p.id));
    expect([...index.packs].map(([id, info]) => [id, info.size])).toEqual(packs.map((p) => [p.id, p.size]));
  });

  it('finds the same after room is made for what comes, before and after some is there', () => {
    const index = new BlobIndex();
    const first = entries('early', 300);
    index.addPack(idOf('early'), 1, first);
    index.expect(20_000);
    const packs = Array.from({ length: 20 }, (_, p) => ({ id: idOf(`later${p}`), size: p, blobs: entries(`l${p}-`, 1000) }));
    index.addFile({ version: 1, packs });
    index.expect(10); // no room needed: nothing changes
    expect(index.blobCount).toBe(20_300);
    for (const e of [first[0], first[299], packs[0].blobs[0], packs[19].blobs[999]]) expect(index.has(e.id)).toBe(true);
    expect(index.get(packs[7].blobs[3].id)!.pack).toBe(idOf('later7'));
    expect(index.has(idOf('absent'))).toBe(false);
  });

  it('keeps offsets past 4 GiB exact', () => {
    const index = new BlobIndex();
    const e: PackEntry = { id: idOf('far'), type: 'data', offset: 2 ** 40 + 3, length: 7, rawLength: 9 };
    index.addPack(idOf('big pack'), 2 ** 41, [e]);
    expect(index.get(e.id)!.offset).toBe(2 ** 40 + 3);
  });

  it('resolves a blob stored twice to its first pack, lists it in both, and counts it once', () => {
    const index = new BlobIndex();
    const shared = entries('shared', 3);
    index.addPack(idOf('a'), 10, shared);
    index.addPack(idOf('b'), 20, [...entries('own', 2), ...shared]);
    index.addPack(idOf('a'), 99, entries('ignored', 5)); // a pack already known is not added again
    expect(index.blobCount).toBe(5);
    expect(index.get(shared[1].id)!.pack).toBe(idOf('a'));
    expect(index.packs.get(idOf('b'))!.blobs.map((e) => e.id)).toEqual([...entries('own', 2), ...shared].map((e) => e.id));
    expect(index.packs.get(idOf('a'))!.size).toBe(10);
    expect(index.has(entries('ignored', 1)[0].id)).toBe(false);
  });

  it('finds nothing for unknown, short, long or non-hex ids', () => {
    const index = new BlobIndex();
    const [e] = entries('x', 1);
    index.addPack(idOf('p'), 1, [e]);
    for (const id of [idOf('nope'), e.id.slice(0, 63), `${e.id}00`, `${e.id.slice(0, 62)}zz`, '', e.id.slice(0, 8)]) {
      expect(index.has(id)).toBe(false);
      expect(index.get(id)).toBeUndefined();
    }
    expect(index.packs.has(idOf('q'))).toBe(false);
    expect(index.packs.get(idOf('q'))).toBeUndefined();
  });
});
