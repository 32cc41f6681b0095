import { open, type Keyring } from '../crypto/keyring';
import { openPassphraseSlot, openRsaSlot, parseSlot, type KeySlot } from '../crypto/keySlots';
import { CorruptionError, InvalidInputError, NotFoundError, RepositoryNotFoundError, WrongKeyError } from '../errors';
import { listAll, type Storage } from '../storage/storage';
import type { RepoConfig } from './config';
import { CONFIG_KEY, KEYS_PREFIX } from './layout';

export interface OpenOptions {
  passphrase?: string;
  /** PEM private key of an RSA recovery slot. */
  recoveryKey?: string;
}

/** What opening a repository yields before anything is read with it: its keyring, the slot that gave it, and its config. */
export interface Unlocked {
  ring: Keyring;
  slot: KeySlot;
  config: RepoConfig;
}

/** What opening a repository's keys needs from its storage: the sealed config and every key slot. */
export interface KeyMaterial {
  sealedConfig: Buffer;
  slots: KeySlot[];
}

/** Reads a repository's config and opens its keyring with the passphrase (or recovery key). */
export async function unlockRepository(storage: Storage, opts: OpenOptions): Promise<Unlocked> {
  return unlock(await readKeyMaterial(storage), opts);
}

/**
 * Two steps a caller can run apart: `unlock` starts its key derivation (scrypt, on libuv's pool)
 * before it first yields, so the caller can load the rest of the engine while it runs (the CLI,
 * issue 15). This module stays light to load for that reason.
 */
export async function readKeyMaterial(storage: Storage): Promise<KeyMaterial> {
  let sealedConfig: Buffer;
  try {
    sealedConfig = await storage.get(CONFIG_KEY);
  } catch (err) {
    if (err instanceof NotFoundError) throw new RepositoryNotFoundError(`no repository at ${storage.location}`);
    throw err;
  }
  const objects = await listAll(storage, KEYS_PREFIX);
  // a slot listed and gone a moment later was the key of a repository another process lost the race to create
  const read = await Promise.all(
    objects.map(async (o) => {
      const bytes = await storage.get(o.key).catch((err: unknown) => (err instanceof NotFoundError ? null : Promise.reject(err)));
      return bytes && parseSlot(bytes, o.key);
    }),
  );
  return { sealedConfig, slots: read.filter((slot): slot is KeySlot => slot !== null) };
}

/**
 * The keyring of the newest key slot the passphrase (or recovery key) opens and that opens the
 * config (a slot of a repository another process lost the race to create may linger a moment).
 */
export async function unlock({ sealedConfig, slots }: KeyMaterial, opts: OpenOptions): Promise<Unlocked> {
  if (!opts.passphrase && !opts.recoveryKey) throw new InvalidInputError('no passphrase or recovery key given');
  const opensConfig = (ring: Keyring): boolean => {
    try {
      open(ring, sealedConfig, 'dbm-config', 'repository config');
      return true;
    } catch {
      return false;
    }
  };
  // Newest first: after an interrupted rotation the newer keyring wins.
  const newestFirst = [...slots].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  let misfit = false;
  for (const slot of newestFirst) {
    const ring =
      slot.type === 'passphrase' && opts.passphrase
        ? await openPassphraseSlot(slot, opts.passphrase)
        : slot.type === 'rsa' && opts.recoveryKey
          ? openRsaSlot(slot, opts.recoveryKey)
          : null;
    if (ring && opensConfig(ring)) {
      const config = JSON.parse(open(ring, sealedConfig, 'dbm-config', 'repository config').toString('utf8')) as RepoConfig;
      if (config.version !== 1) throw new CorruptionError(`repository config version ${config.version} is not supported`);
      return { ring, slot, config };
    }
    misfit ||= ring !== null;
  }
  if (misfit) throw new CorruptionError('repository config failed authentication (corrupted or tampered)');
  throw new WrongKeyError(
    opts.recoveryKey ? 'the recovery key opens no key slot of this repository' : 'wrong passphrase: no key slot opens with it',
  );
}
