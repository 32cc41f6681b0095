import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { discardBuffer } from '../bufferPool';
import { CorruptionError } from '../errors';

/**
 * The repository's secret material. `idKey` names blobs (HMAC-SHA-256) and
 * never changes, so dedup survives key rotation; `epochs` are AES-256-GCM
 * data keys, the newest one encrypts new data, every one stays to read old data.
 */
export interface Keyring {
  version: 1;
  idKey: Buffer;
  epochs: { epoch: number; key: Buffer; created: string }[];
}

interface KeyringJson {
  version: 1;
  idKey: string;
  epochs: { epoch: number; key: string; created: string }[];
}

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const EPOCH_BYTES = 2;
/** Bytes a sealed object carries beyond its plaintext. */
export const SEAL_OVERHEAD = EPOCH_BYTES + NONCE_BYTES + TAG_BYTES;

export function newKeyring(): Keyring {
  return {
    version: 1,
    idKey: randomBytes(32),
    epochs: [{ epoch: 0, key: randomBytes(32), created: new Date().toISOString() }],
  };
}

/** A keyring with one more data-key epoch; the id key is kept. */
export function addEpoch(ring: Keyring): Keyring {
  const next = Math.max(...ring.epochs.map((e) => e.epoch)) + 1;
  return { ...ring, epochs: [...ring.epochs, { epoch: next, key: randomBytes(32), created: new Date().toISOString() }] };
}

/** A keyring that crossed to a worker thread: the structured clone made its Buffers plain Uint8Arrays (no copy to undo it). */
export function keyringFromClone(clone: { idKey: Uint8Array; epochs: { epoch: number; key: Uint8Array; created: string }[] }): Keyring {
  const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { version: 1, idKey: asBuffer(clone.idKey), epochs: clone.epochs.map((e) => ({ ...e, key: asBuffer(e.key) })) };
}

export function currentEpoch(ring: Keyring): number {
  return Math.max(...ring.epochs.map((e) => e.epoch));
}

export function serializeKeyring(ring: Keyring): Buffer {
  const json: KeyringJson = {
    version: 1,
    idKey: ring.idKey.toString('base64'),
    epochs: ring.epochs.map((e) => ({ epoch: e.epoch, key: e.key.toString('base64'), created: e.created })),
  };
  return Buffer.from(JSON.stringify(json));
}

export function parseKeyring(data: Buffer): Keyring {
  const json = JSON.parse(data.toString('utf8')) as KeyringJson;
  if (json.version !== 1 || typeof json.idKey !== 'string' || !Array.isArray(json.epochs) || json.epochs.length === 0) {
    throw new CorruptionError('key slot holds an unreadable keyring');
  }
  return {
    version: 1,
    idKey: Buffer.from(json.idKey, 'base64'),
    epochs: json.epochs.map((e) => ({ epoch: e.epoch, key: Buffer.from(e.key, 'base64'), created: e.created })),
  };
}

/** Raw keys turned into KeyObjects once: importing a key on every call costs more than hashing a small blob. */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function keyObject(key: Buffer): KeyObject {
  let obj = keyObjects.get(key);
  if (!obj) {
    obj = createSecretKey(key);
    keyObjects.set(key, obj);
  }
  return obj;
}

/** Blob id: keyed hash of the plaintext, so stored ids reveal nothing about content. */
export function blobId(ring: Keyring, data: Buffer): string {
  return createHmac('sha256', keyObject(ring.idKey)).update(data).digest('hex');
}

/**
 * AES-256-GCM with a random nonce. Layout: epoch (u16 BE) | nonce | ciphertext | tag.
 * `aad` binds the ciphertext to what it claims to be (a blob id, "snapshot", …),
 * so an attacker cannot swap one valid object for another.
 */
export function seal(ring: Keyring, plaintext: Buffer | Buffer[], aad: Buffer | string): Buffer {
  const epoch = currentEpoch(ring);
  const key = ring.epochs.find((e) => e.epoch === epoch)!.key;
  return sealWith(key, epoch, plaintext, aad);
}

/** Seals the concatenation of `plaintext` parts (no copy to join them first). */
export function sealWith(key: Buffer, epoch: number, plaintext: Buffer | Buffer[], aad: Buffer | string): Buffer {
  return Buffer.concat(sealParts(key, epoch, Array.isArray(plaintext) ? plaintext : [plaintext], aad));
}

/**
 * The sealed form as the pieces the cipher produced, unjoined: a pack keeps
 * them as they are, which saves a copy of every blob on the backup path.
 */
export function sealParts(key: Buffer, epoch: number, plaintext: Buffer[], aad: Buffer | string): Buffer[] {
  const head = Buffer.allocUnsafe(EPOCH_BYTES + NONCE_BYTES);
  head.writeUInt16BE(epoch, 0);
  takeNonce(head, EPOCH_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), head.subarray(EPOCH_BYTES));
  cipher.setAAD(typeof aad === 'string' ? Buffer.from(aad) : aad);
  const out = [head];
  for (const part of plaintext) out.push(cipher.update(part));
  out.push(cipher.final(), cipher.getAuthTag());
  return out;
}

/** Plaintext bytes per cipher call when sealing into a buffer: small enough that the cipher's output is freed at once, not left for V8. */
const INTO_PIECE = 64 * 1024;

/**
 * sealParts of [one byte `first`, then `data`], but the cipher's output for
 * `data` is written into `into` from its start (`into` may be `data`'s own
 * memory: each piece is read before its output lands there). The sealed bytes
 * are the same; what is saved is a buffer of the data's size per blob. So a
 * chunk's own memory can carry its sealed body to the pack file. Returns the
 * pieces before the body (head, and the first byte's) and after it (the tag).
 */
export function sealInto(ring: Keyring, first: number, data: Buffer, into: Buffer, aad: Buffer): { before: Buffer; after: Buffer } {
  if (into.length < data.length) throw new RangeError(`sealInto: ${into.length} bytes cannot hold ${data.length}`);
  const epoch = currentEpoch(ring);
  const key = ring.epochs.find((e) => e.epoch === epoch)!.key;
  const before = Buffer.allocUnsafe(EPOCH_BYTES + NONCE_BYTES + 1);
  before.writeUInt16BE(epoch, 0);
  takeNonce(before, EPOCH_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), before.subarray(EPOCH_BYTES, EPOCH_BYTES + NONCE_BYTES));
  cipher.setAAD(aad);
  cipher.update(Buffer.of(first)).copy(before, EPOCH_BYTES + NONCE_BYTES);
  for (let at = 0; at < data.length; at += INTO_PIECE) {
    const out = cipher.update(data.subarray(at, Math.min(at + INTO_PIECE, data.length)));
    out.copy(into, at);
    discardBuffer(out);
  }
  return { before, after: Buffer.concat([cipher.final(), cipher.getAuthTag()]) };
}

/**
 * Nonces are drawn from the CSPRNG in bulk: a randomFillSync call per blob
 * cost ~15 µs, nearly all of it the call, and a tree of 100,000 small files
 * seals 100,000 blobs. The bytes are the same CSPRNG output either way.
 */
const noncePool = Buffer.allocUnsafeSlow(NONCE_BYTES * 512);
let noncePos = noncePool.length;
function takeNonce(into: Buffer, at: number): void {
  if (noncePos === noncePool.length) {
    randomFillSync(noncePool);
    noncePos = 0;
  }
  noncePool.copy(into, at, noncePos, noncePos + NONCE_BYTES);
  noncePos += NONCE_BYTES;
}

/** sealParts with the ring's current epoch. */
export function sealToParts(ring: Keyring, plaintext: Buffer[], aad: Buffer | string): Buffer[] {
  const epoch = currentEpoch(ring);
  return sealParts(ring.epochs.find((e) => e.epoch === epoch)!.key, epoch, plaintext, aad);
}

export function open(ring: Keyring, sealed: Buffer, aad: Buffer | string, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new CorruptionError(`${what} is truncated`);
  const epoch = sealed.readUInt16BE(0);
  const entry = ring.epochs.find((e) => e.epoch === epoch);
  if (!entry) throw new CorruptionError(`${what} is encrypted with unknown key epoch ${epoch}`);
  return openWith(entry.key, sealed, aad, what);
}

export function openWith(key: Buffer, sealed: Buffer, aad: Buffer | string, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new CorruptionError(`${what} is truncated`);
  const nonce = sealed.subarray(EPOCH_BYTES, EPOCH_BYTES + NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(EPOCH_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyObject(key), nonce);
  decipher.setAAD(typeof aad === 'string' ? Buffer.from(aad) : aad);
  decipher.setAuthTag(tag);
  try {
    const plain = decipher.update(body);
    const rest = decipher.final(); // GCM: empty, so the plaintext is not copied once more to join it
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  } catch {
    throw new CorruptionError(`${what} failed authentication (corrupted or tampered)`);
  }
}
