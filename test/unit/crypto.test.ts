import { describe, expect, it } from 'vitest';
import { addEpoch, blobId, newKeyring, open, seal } from '../../engine/crypto/keyring';
import { generateRecoveryKeyPair, makePassphraseSlot, makeRsaSlot, openPassphraseSlot, openRsaSlot } from '../../engine/crypto/keySlots';
import { PackBuilder, parsePack } from '../../engine/repository/pack';

describe('sealing', () => {
  const ring = newKeyring();

  it('round-trips and uses a fresh nonce each time', () => {
    const a = seal(ring, Buffer.from('secret'), 'aad');
    const b = seal(ring, Buffer.from('secret'), 'aad');
    expect(a.equals(b)).toBe(false);
    expect(open(ring, a, 'aad', 'x').toString()).toBe('secret');
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

  it('lists its blobs from its own header', () => {
    const builder = new PackBuilder();
    const blobs = ['one', 'two', 'three'].map((s) => Buffer.from(s));
    for (const b of blobs) builder.add('data', blobId(ring, b), seal(ring, b, Buffer.from(blobId(ring, b), 'hex')), b.length);
    const pack = builder.finish(ring);
    const data = Buffer.concat(pack.parts);
    expect(data.length).toBe(pack.size);
    const entries = parsePack(ring, data, pack.id);
    expect(entries).toEqual(pack.entries);
    for (const [i, e] of entries.entries()) {
      expect(open(ring, data.subarray(e.offset, e.offset + e.length), Buffer.from(e.id, 'hex'), 'b').equals(blobs[i])).toBe(true);
    }
  });

  it('rejects truncated and damaged packs', () => {
    const builder = new PackBuilder();
    builder.add('tree', 'aa'.repeat(32), seal(ring, Buffer.from('{}'), 'x'), 2);
    const data = Buffer.concat(builder.finish(ring).parts);
    expect(() => parsePack(ring, data.subarray(0, data.length - 5), 'p')).toThrow();
    expect(() => parsePack(ring, data.subarray(0, 2), 'p')).toThrow(/truncated/);
    const bad = Buffer.from(data);
    bad.writeUInt32LE(0xffffff, bad.length - 4);
    expect(() => parsePack(ring, bad, 'p')).toThrow(/header length/);
  });
});
