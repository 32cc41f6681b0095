import { addEpoch, currentEpoch } from './crypto/keyring';
import { makePassphraseSlot, makeRsaSlot, type KeySlot } from './crypto/keySlots';
import { InvalidInputError, NotFoundError } from './errors';
import { keyKey } from './repository/layout';
import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';

/** `repo key …`: the slots that open the repository. */

async function writeSlot(repo: Repository, slot: KeySlot): Promise<void> {
  await repo.storage.put(keyKey(slot.id), Buffer.from(JSON.stringify(slot, null, 2)));
}

export async function addPassphraseKey(repo: Repository, passphrase: string, label?: string): Promise<KeySlot> {
  const slot = await makePassphraseSlot(repo.keyring, passphrase, label);
  await writeSlot(repo, slot);
  return slot;
}

export async function addRecoveryKey(repo: Repository, publicKeyPem: string, label?: string): Promise<KeySlot> {
  const slot = makeRsaSlot(repo.keyring, publicKeyPem, label);
  await writeSlot(repo, slot);
  return slot;
}

export async function removeKey(repo: Repository, idPrefix: string): Promise<KeySlot> {
  const slots = await repo.listSlots();
  const matches = slots.filter((s) => s.id.startsWith(idPrefix));
  if (matches.length === 0) throw new NotFoundError(`no key slot ${idPrefix}`);
  if (matches.length > 1) throw new InvalidInputError(`key slot id ${idPrefix} is ambiguous`);
  const slot = matches[0];
  if (slot.id === repo.slot.id) throw new InvalidInputError('refusing to remove the key slot this session opened with');
  await repo.storage.delete(keyKey(slot.id));
  return slot;
}

export interface RotationResult {
  epoch: number;
  rewrapped: KeySlot[];
  removed: KeySlot[];
}

/**
 * Starts a new data-key epoch: new data is encrypted with a new key, old data
 * stays readable with the old ones (the blob id key is kept, so dedup holds).
 * The keyring is re-wrapped into a fresh passphrase slot (the passphrase given,
 * by default the current one) and into every RSA recovery slot (their public
 * keys suffice). Other passphrase slots cannot be re-wrapped without their
 * passphrases and are removed: rotation is also how a leaked passphrase is
 * retired. New slots are written before old ones are deleted, and the newest
 * slot is tried first on open, so an interrupted rotation loses nothing.
 */
export async function rotateKeys(repo: Repository, passphrase: string, opts: { lockWaitMs?: number } = {}): Promise<RotationResult> {
  return withLock(repo, { exclusive: true, operation: 'key rotate', waitMs: opts.lockWaitMs }, async () => {
    const ring = addEpoch(repo.keyring);
    const old = await repo.listSlots();
    const rewrapped: KeySlot[] = [await makePassphraseSlot(ring, passphrase, repo.slot.label)];
    for (const slot of old) if (slot.type === 'rsa' && slot.rsa) rewrapped.push(makeRsaSlot(ring, slot.rsa.publicKey, slot.label));
    for (const slot of rewrapped) await writeSlot(repo, slot);
    for (const slot of old) await repo.storage.delete(keyKey(slot.id));
    return { epoch: currentEpoch(ring), rewrapped, removed: old.filter((s) => s.type === 'passphrase' && s.id !== repo.slot.id) };
  });
}
