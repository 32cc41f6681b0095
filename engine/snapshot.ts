import { CorruptionError, InvalidInputError, NotFoundError } from './errors';
import { HEX64, SNAPSHOTS_PREFIX, idOf, snapshotKey } from './repository/layout';
import type { Repository } from './repository/repository';
import { listAll } from './storage/storage';

export const BACKUP_TYPES = ['full', 'incremental', 'differential'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

export interface SnapshotStats {
  files: number;
  dirs: number;
  /** files taken from the parent snapshot without reading them */
  filesUnchanged: number;
  bytesRead: number;
  /** plain bytes of data that was new to the repository */
  bytesAdded: number;
  /** bytes written to storage (compressed, encrypted, with pack overhead) */
  bytesStored: number;
  /** total plain size of everything in the snapshot */
  totalSize: number;
  durationMs: number;
}

/**
 * A snapshot manifest: the single commit point of a backup. It is written
 * last, after every pack and index it depends on, so it never names data
 * that is not stored.
 */
export interface Snapshot {
  version: 1;
  time: string;
  target: string;
  type: BackupType;
  /** 'tree' for file trees, 'stream' for named byte streams (dumps) */
  kind: 'tree' | 'stream';
  hostname: string;
  username: string;
  paths: string[];
  tags: Record<string, string>;
  tree: string;
  parent: string | null;
  stats: SnapshotStats;
  /** target-specific facts (server version, row counts, …) */
  meta?: Record<string, unknown>;
  program: string;
}

export interface SnapshotRef {
  id: string;
  key: string;
  snapshot: Snapshot;
}

const SNAPSHOT_AAD = 'dbm-snapshot';
export const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkTargetName(target: string): void {
  if (!TARGET_NAME.test(target)) {
    throw new InvalidInputError(`target name ${JSON.stringify(target)} must be lowercase letters, digits, '.', '_' or '-'`);
  }
}

export async function saveSnapshot(repo: Repository, snapshot: Snapshot): Promise<SnapshotRef> {
  checkTargetName(snapshot.target);
  const time = new Date(snapshot.time);
  const { id, key } = await repo.putSealed((sid) => snapshotKey(snapshot.target, time, sid), snapshot, SNAPSHOT_AAD);
  return { id, key, snapshot };
}

export async function loadSnapshot(repo: Repository, key: string): Promise<SnapshotRef> {
  const id = idOf(key);
  const snapshot = validateSnapshot(await repo.getSealed<unknown>(key, SNAPSHOT_AAD, `snapshot ${id.slice(0, 8)}`), id);
  return { id, key, snapshot };
}

/** A decoded manifest, checked field by field before anything trusts it: a one-line error when it is off. */
export function validateSnapshot(value: unknown, id: string): Snapshot {
  const s = value as Snapshot;
  const fail = (what: string): never => {
    throw new CorruptionError(`snapshot ${id.slice(0, 8)} has ${what}`);
  };
  if (!s || typeof s !== 'object' || Array.isArray(s) || s.version !== 1) fail('an unknown shape');
  if (typeof s.tree !== 'string' || !HEX64.test(s.tree)) fail('no valid tree id');
  if (typeof s.target !== 'string' || !TARGET_NAME.test(s.target)) fail('no valid target');
  if (typeof s.time !== 'string' || Number.isNaN(Date.parse(s.time))) fail('no valid time');
  if (!Array.isArray(s.paths) || !s.paths.every((p) => typeof p === 'string')) fail('no valid path list');
  if (!s.tags || typeof s.tags !== 'object' || Array.isArray(s.tags) || !Object.values(s.tags).every((v) => typeof v === 'string')) fail('no valid tags');
  if (!s.stats || typeof s.stats !== 'object') fail('no stats');
  if (s.parent !== null && s.parent !== undefined && (typeof s.parent !== 'string' || !HEX64.test(s.parent))) fail('no valid parent id');
  return s;
}

export interface SnapshotFilter {
  target?: string;
  tags?: Record<string, string>;
}

/**
 * Every snapshot, oldest first. `known`: manifests read before, by key, for a
 * caller that lists again and again (the API): a manifest never changes, so
 * only new ones are read, and ones gone from the repository are forgotten.
 */
export async function listSnapshots(repo: Repository, filter: SnapshotFilter = {}, known?: Map<string, SnapshotRef>): Promise<SnapshotRef[]> {
  const prefix = filter.target ? `${SNAPSHOTS_PREFIX}${filter.target}/` : SNAPSHOTS_PREFIX;
  const objects = await listAll(repo.storage, prefix);
  if (known) {
    const present = new Set(objects.map((o) => o.key));
    for (const key of known.keys()) if (key.startsWith(prefix) && !present.has(key)) known.delete(key);
  }
  const refs: SnapshotRef[] = [];
  for (const o of objects) {
    const ref = known?.get(o.key) ?? (await loadSnapshot(repo, o.key));
    known?.set(o.key, ref);
    if (filter.tags && !Object.entries(filter.tags).every(([k, v]) => ref.snapshot.tags[k] === v)) continue;
    refs.push(ref);
  }
  return refs.sort((a, b) => Date.parse(a.snapshot.time) - Date.parse(b.snapshot.time) || (a.id < b.id ? -1 : 1));
}

/** Resolves `latest`, a full id or a unique prefix (at least 4 hex digits). */
export async function findSnapshot(repo: Repository, ref: string, filter: SnapshotFilter = {}): Promise<SnapshotRef> {
  if (ref === 'latest') {
    const all = await listSnapshots(repo, filter);
    if (all.length === 0) throw new NotFoundError(`no snapshot${filter.target ? ` of target ${filter.target}` : ''} exists`);
    return all[all.length - 1];
  }
  if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new InvalidInputError(`snapshot id ${JSON.stringify(ref)} is not 'latest' or a hex id`);
  const prefix = filter.target ? `${SNAPSHOTS_PREFIX}${filter.target}/` : SNAPSHOTS_PREFIX;
  const matches = (await listAll(repo.storage, prefix)).filter((o) => idOf(o.key).startsWith(ref));
  if (matches.length === 0) throw new NotFoundError(`no snapshot ${ref}`);
  if (matches.length > 1) throw new InvalidInputError(`snapshot id ${ref} is ambiguous (${matches.length} match); give more digits`);
  return loadSnapshot(repo, matches[0].key);
}

/**
 * The parent a backup of this type builds on: incremental takes the latest
 * snapshot of the same target and paths; differential the latest full one.
 */
export async function findParent(repo: Repository, target: string, type: BackupType, paths: string[]): Promise<SnapshotRef | null> {
  if (type === 'full') return null;
  const samePaths = (s: Snapshot): boolean => JSON.stringify([...s.paths].sort()) === JSON.stringify([...paths].sort());
  const candidates = (await listSnapshots(repo, { target })).filter(
    (r) => samePaths(r.snapshot) && (type === 'incremental' || r.snapshot.type === 'full'),
  );
  return candidates.length > 0 ? candidates[candidates.length - 1] : null;
}
