/**
 * Where each kind of object lives in the repository. The layout stays
 * browsable (after the seed's `backups/` tree): a person looking at the
 * bucket sees targets and dates, never contents.
 */
export const CONFIG_KEY = 'config';
export const KEYS_PREFIX = 'keys/';
export const DATA_PREFIX = 'data/';
export const INDEX_PREFIX = 'index/';
export const SNAPSHOTS_PREFIX = 'snapshots/';
export const LOCKS_PREFIX = 'locks/';
export const VERIFICATION_PREFIX = 'verification/';

export const keyKey = (id: string): string => `${KEYS_PREFIX}${id}`;
export const packKey = (id: string): string => `${DATA_PREFIX}${id.slice(0, 2)}/${id}`;
export const indexKey = (id: string): string => `${INDEX_PREFIX}${id}`;
export const lockKey = (id: string): string => `${LOCKS_PREFIX}${id}`;
export const snapshotKey = (target: string, time: Date, id: string): string =>
  `${SNAPSHOTS_PREFIX}${target}/${time.toISOString().slice(0, 10)}/${id}`;

/** The last path segment: the id of a pack, index, lock, key or snapshot object. */
export const idOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

export const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The largest blob the engine reads (plain or stored): chunks are at most 8 MiB, trees of huge
 * directories larger; anything past this in an index or pack header is damage, and never sizes an
 * allocation.
 */
export const MAX_BLOB_BYTES = 512 * 1024 * 1024;
