import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { addEpoch, blobId, newKeyring, open, seal, sealInto, sealToParts } from '../../engine/crypto/keyring';
import { generateRecoveryKeyPair, makePassphraseSlot, makeRsaSlot, openPassphraseSlot, openRsaSlot } from '../../engine/crypto/keySlots';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PackWriter, SEGMENT_BYTES, parsePack } from '../../engine/repository/pack';
import { BufferPool } from '../../engine/bufferPool';

describe('sealing', () => {
  const ring = newKeyring();

  it('round-trips and uses a fresh nonce each time', () => {
    const a = seal(ring, Buffer.from('secret'), 'aad');
    const b = seal(ring, Buffer.from('secret'), 'aad');
    expect(a.equals(b)).toBe(false);
    expect(open(ring, a, 'aad', 'x').toString()).toBe('secret');
  });

  it('seals into a buffer, the data\'s own memory included, the same bytes a sealing into new buffers makes', () => {
    const aad = Buffer.from('blob id');
    // across the 64 KiB pieces it encrypts at a time, and shorter than one
    for (const size of [0, 1, 70_000, 3 * 65_536 + 17]) {
      const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) & 0xff));
      const plain = Buffer.concat([Buffer.of(9), data]);
      const own = Buffer.from(data);
      const { before, after } = sealInto(ring, 9, own, own, aad);
      const sealed = Buffer.concat([before, own, after]);
      expect(sealed.length).toBe(Buffer.concat(sealToParts(ring, [Buffer.of(9), data], aad)).length);
      expect(open(ring, sealed, aad, 'x').equals(plain)).toBe(true);
      const into = Buffer.alloc(size + 5, 0xee);
      const other = sealInto(ring, 9, data, into, aad);
      expect(open(ring, Buffer.concat([other.before, into.subarray(0, size), other.after]), aad, 'x').equals(plain)).toBe(true);
      expect(into.subarray(size).equals(Buffer.alloc(5, 0xee)), 'nothing written past the data').toBe(true);
    }
    expect(() => sealInto(ring, 0, Buffer.alloc(10), Buffer.alloc(9), aad)).toThrow(RangeError);
  });

  it('detects a flipped bit and a swapped object', () => {
    const sealed = seal(ring, Buffer.from('secret'), 'snapshot');
    const flipped = Buffer.from(sealed);
    flipped[20] ^= 1;
    expect(() => open(ring, flipped, 'snapshot', 'x')).toThrow(/authentication/);
    expect(() => open(ring, sealed, 'index', 'x')).toThrow(/authentication/);
    expect(() => open(ring, sealed.subarray(0, 10), 'snapshot', 'x')).toThrow(/truncated/);
  });

  it('reads data of old epochs after a new one starts', () => {
    const old = seal(ring, Buffer.from('old data'), 'a');
    const rotated = addEpoch(ring);
    const fresh = seal(rotated, Buffer.from('new data'), 'a');
    expect(fresh.readUInt16BE(0)).toBe(1);
    expect(open(rotated, old, 'a', 'x').toString()).toBe('old data');
    expect(() => open(ring, fresh, 'a', 'x')).toThrow(/unknown key epoch/);
    expect(blobId(rotated, Buffer.from('z'))).toBe(blobId(ring, Buffer.from('z')));
  });

  it('keys blob ids: the same data has different ids in different repositories', () => {
    expect(blobId(newKeyring(), Buffer.from('same'))).not.toBe(blobId(newKeyring(), Buffer.from('same')));
  });
});

describe('key slots', () => {
  const ring = newKeyring();

  it('opens a passphrase slot with the right passphrase only', async () => {
    const slot = await makePassphraseSlot(ring, 'pass one');
    expect((await openPassphraseSlot(slot, 'pass one'))!.idKey.equals(ring.idKey)).toBe(true);
    expect(await openPassphraseSlot(slot, 'pass two')).toBeNull();
  });

  it('opens an RSA slot with its private key only', () => {
    const pair = generateRecoveryKeyPair(2048);
    const other = generateRecoveryKeyPair(2048);
    const slot = makeRsaSlot(ring, pair.publicKeyPem);
    expect(openRsaSlot(slot, pair.privateKeyPem)!.epochs[0].key.equals(ring.epochs[0].key)).toBe(true);
    expect(openRsaSlot(slot, other.privateKeyPem)).toBeNull();
  });
});

describe('pack format', () => {
  const ring = newKeyring();
  const spool = mkdtempSync(path.join(tmpdir(), 'dbm-pack-test-'));
  afterAll(() => rmSync(spool, { recursive: true, force: true }));

  async function written(writer: PackWriter): Promise<{ data: Buffer; id: string; entries: ReturnType<typeof parsePack> }> {
    const pack = await writer.finish(ring);
    const data = readFileSync(pack.file);
    rmSync(pack.file);
    expect(data.length).toBe(pack.size);
    return { data, id: pack.id, entries: pack.entries };
  }

  it('lists its blobs from its own header', async () => {
    const writer = new PackWriter(spool);
    const blobs = ['one', 'two', 'three'].map((s) => Buffer.from(s));
    for (const b of blobs) writer.add('data', blobId(ring, b), seal(ring, b, Buffer.from(blobId(ring, b), 'hex')), b.length);
    const pack = await written(writer);
    const entries = parsePack(ring, pack.data, pack.id);
    expect(entries).toEqual(pack.entries);
    for (const [i, e] of entries.entries()) {
      expect(open(ring, pack.data.subarray(e.offset, e.offset + e.length), Buffer.from(e.id, 'hex'), 'b').equals(blobs[i])).toBe(true);
    }
  });

  it('writes small and large blobs in the order added, across segments, named by its hash', async () => {
    // small blobs are copied into pooled segments, large ones written as they are: the file must still be in order
    const writer = new PackWriter(spool, new BufferPool(2));
    const blobs: Buffer[] = [];
    for (let i = 0; i < 300; i++) blobs.push(Buffer.alloc(i % 50 === 49 ? 200_000 : 9_000 + i, i));
    let released = 0;
    for (const b of blobs) {
      writer.add('data', blobId(ring, b), seal(ring, b, Buffer.from(blobId(ring, b), 'hex')), b.length, () => released++);
      await writer.drained();
    }
    expect(writer.size).toBeGreaterThan(3 * SEGMENT_BYTES);
    const pack = await written(writer);
    expect(released, 'every blob\'s pieces are released once copied or written').toBe(blobs.length);
    expect(createHash('sha256').update(pack.data).digest('hex')).toBe(pack.id);
    const entries = parsePack(ring, pack.data, pack.id);
    expect(entries.map((e) => e.rawLength)).toEqual(blobs.map((b) => b.length));
    for (const [i, e] of entries.entries()) {
      expect(open(ring, pack.data.subarray(e.offset, e.offset + e.length), Buffer.from(e.id, 'hex'), 'b').equals(blobs[i])).toBe(true);
    }
  });

  it('a buffer pool keeps what fits its byte bound and frees the rest at once', () => {
    const pool = new BufferPool(8, 3 * 1024 * 1024);
    const taken = [pool.take(1_500_000), pool.take(1_500_000), pool.take(600_000)]; // classes of 2 MiB, 2 MiB, 1 MiB
    for (const b of taken) pool.give(b);
    expect(taken.map((b) => b.buffer.byteLength), 'the second 2 MiB one is over the bound: freed').toEqual([2 * 1024 * 1024, 0, 1024 * 1024]);
    expect(pool.take(1_800_000).buffer === taken[0].buffer, 'the kept one is reused').toBe(true);
    expect(pool.take(1_800_000).buffer === taken[0].buffer, 'the pool had one of that class').toBe(false);
  });

  it('leaves no spool file behind when discarded', async () => {
    const writer = new PackWriter(spool);
    writer.add('data', 'ab'.repeat(32), Buffer.alloc(100_000, 1), 100_000);
    await writer.drained();
    expect(readdirSync(spool).length).toBe(1);
    await writer.discard();
    expect(readdirSync(spool)).toEqual([]);
  });

  it('rejects truncated and damaged packs', async () => {
    const writer = new PackWriter(spool);
    writer.add('tree', 'aa'.repeat(32), seal(ring, Buffer.from('{}'), 'x'), 2);
    const { data } = await written(writer);
    expect(() => parsePack(ring, data.subarray(0, data.length - 5), 'p')).toThrow();
    expect(() => parsePack(ring, data.subarray(0, 2), 'p')).toThrow(/truncated/);
    const bad = Buffer.from(data);
    bad.writeUInt32LE(0xffffff, bad.length - 4);
    expect(() => parsePack(ring, bad, 'p')).toThrow(/header length/);
  });
});
