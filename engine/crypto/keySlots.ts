import { createHash, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { hostname } from 'node:os';
import type Forge from 'node-forge';

/** node-forge, loaded only for recovery keys: most commands never touch RSA, and it takes a while to load. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const forge = (): typeof Forge => require('node-forge') as typeof Forge;
import { CorruptionError, InvalidInputError } from '../errors';
import { openWith, parseKeyring, sealWith, serializeKeyring, type Keyring } from './keyring';

/**
 * A key slot wraps the keyring under one secret: a passphrase (scrypt) or an
 * RSA public key whose private half is kept offline as a recovery key. Any one
 * slot opens the repository; slots are plain JSON under `keys/`.
 */
export interface KeySlot {
  version: 1;
  id: string;
  type: 'passphrase' | 'rsa';
  label: string;
  created: string;
  hostname: string;
  kdf?: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  rsa?: { publicKey: string; fingerprint: string; wrappedKey: string };
  /** The keyring sealed with this slot's key (AES-256-GCM). */
  keyring: string;
}

export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const SLOT_AAD = 'dbm-key-slot';

function scrypt(pass: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) =>
    scryptCb(pass, salt, 32, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function baseSlot(type: KeySlot['type'], label: string): Omit<KeySlot, 'keyring'> {
  return {
    version: 1,
    id: randomBytes(16).toString('hex'),
    type,
    label,
    created: new Date().toISOString(),
    hostname: hostname(),
  };
}

export async function makePassphraseSlot(ring: Keyring, passphrase: string, label = 'passphrase'): Promise<KeySlot> {
  if (!passphrase) throw new InvalidInputError('the passphrase is empty');
  const salt = randomBytes(32);
  const kek = await scrypt(passphrase, salt, SCRYPT_PARAMS);
  return {
    ...baseSlot('passphrase', label),
    kdf: { name: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64') },
    keyring: sealWith(kek, 0, serializeKeyring(ring), SLOT_AAD).toString('base64'),
  };
}

export function publicKeyFingerprint(publicKeyPem: string): string {
  const key = forge().pki.publicKeyFromPem(publicKeyPem);
  const der = forge().asn1.toDer(forge().pki.publicKeyToAsn1(key)).getBytes();
  return createHash('sha256').update(Buffer.from(der, 'binary')).digest('hex');
}

export function makeRsaSlot(ring: Keyring, publicKeyPem: string, label = 'recovery key'): KeySlot {
  let key: Forge.pki.rsa.PublicKey;
  try {
    key = forge().pki.publicKeyFromPem(publicKeyPem) as Forge.pki.rsa.PublicKey;
  } catch {
    throw new InvalidInputError('the recovery public key is not an RSA public key in PEM form');
  }
  if (key.n.bitLength() < 2048) throw new InvalidInputError('the recovery key must be RSA with at least 2048 bits');
  const slotKey = randomBytes(32);
  const wrapped = key.encrypt(slotKey.toString('binary'), 'RSA-OAEP', {
    md: forge().md.sha256.create(),
    mgf1: { md: forge().md.sha256.create() },
  });
  return {
    ...baseSlot('rsa', label),
    rsa: {
      publicKey: publicKeyPem.trim(),
      fingerprint: publicKeyFingerprint(publicKeyPem),
      wrappedKey: Buffer.from(wrapped, 'binary').toString('base64'),
    },
    keyring: sealWith(slotKey, 0, serializeKeyring(ring), SLOT_AAD).toString('base64'),
  };
}

/** The keyring from a passphrase slot, or null when the passphrase does not fit. */
export async function openPassphraseSlot(slot: KeySlot, passphrase: string): Promise<Keyring | null> {
  if (slot.type !== 'passphrase' || !slot.kdf) return null;
  const kek = await scrypt(passphrase, Buffer.from(slot.kdf.salt, 'base64'), slot.kdf);
  return openSealedKeyring(slot, kek);
}

/** The keyring from an RSA slot, or null when the private key is not this slot's. */
export function openRsaSlot(slot: KeySlot, privateKeyPem: string): Keyring | null {
  if (slot.type !== 'rsa' || !slot.rsa) return null;
  let priv: Forge.pki.rsa.PrivateKey;
  try {
    priv = forge().pki.privateKeyFromPem(privateKeyPem) as Forge.pki.rsa.PrivateKey;
  } catch {
    throw new InvalidInputError('the recovery key is not an RSA private key in PEM form');
  }
  const pub = forge().pki.setRsaPublicKey(priv.n, priv.e);
  if (publicKeyFingerprint(forge().pki.publicKeyToPem(pub)) !== slot.rsa.fingerprint) return null;
  const slotKey = Buffer.from(
    priv.decrypt(Buffer.from(slot.rsa.wrappedKey, 'base64').toString('binary'), 'RSA-OAEP', {
      md: forge().md.sha256.create(),
      mgf1: { md: forge().md.sha256.create() },
    }),
    'binary',
  );
  return openSealedKeyring(slot, slotKey);
}

function openSealedKeyring(slot: KeySlot, key: Buffer): Keyring | null {
  try {
    return parseKeyring(openWith(key, Buffer.from(slot.keyring, 'base64'), SLOT_AAD, `key slot ${slot.id}`));
  } catch (err) {
    if (err instanceof CorruptionError && /authentication/.test(err.message)) return null;
    throw err;
  }
}

export function parseSlot(data: Buffer, key: string): KeySlot {
  try {
    const slot = JSON.parse(data.toString('utf8')) as KeySlot;
    if (slot.version !== 1 || (slot.type !== 'passphrase' && slot.type !== 'rsa') || typeof slot.keyring !== 'string') {
      throw new Error('bad shape');
    }
    return slot;
  } catch {
    throw new CorruptionError(`key slot ${key} is not readable`);
  }
}

/** A new RSA key pair for an offline recovery key (node's native generator via forge). */
export function generateRecoveryKeyPair(bits = 3072): { publicKeyPem: string; privateKeyPem: string } {
  const pair = forge().pki.rsa.generateKeyPair({ bits, e: 0x10001 });
  return { publicKeyPem: forge().pki.publicKeyToPem(pair.publicKey), privateKeyPem: forge().pki.privateKeyToPem(pair.privateKey) };
}
