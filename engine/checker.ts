import { forEachLimit } from './concurrency';
import { describeError } from './errors';
import { INDEX_PREFIX, DATA_PREFIX, HEX64, VERIFICATION_PREFIX, idOf, packKey } from './repository/layout';
import { withLock } from './repository/lock';
import { packHash, parsePack } from './repository/pack';
import type { Repository } from './repository/repository';
import { listSnapshots, type SnapshotRef } from './snapshot';
import { listAll } from './storage/storage';
import { loadTree } from './tree';

export interface CheckOptions {
  /** Download and verify every pack. */
  readData?: boolean;
  /** Verify this percentage of packs (1–100), chosen at random. */
  readDataPercent?: number;
  lockWaitMs?: number;
}

export interface CheckReport {
  ok: boolean;
  errors: string[];
  /** harmless findings, such as packs left by an interrupted backup */
  warnings: string[];
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  blobsRead: number;
}

/**
 * Structure check: every index readable, every indexed pack present with the
 * right size, every snapshot readable and every blob it needs indexed. With
 * read-data, packs are downloaded, hashed, and every blob is decrypted and
 * re-hashed against its id.
 */
export async function checkRepository(repo: Repository, opts: CheckOptions = {}): Promise<CheckReport> {
  return withLock(repo, { exclusive: false, operation: 'check', waitMs: opts.lockWaitMs }, () => check(repo, opts));
}

async function check(repo: Repository, opts: CheckOptions): Promise<CheckReport> {
  const report: CheckReport = { ok: false, errors: [], warnings: [], snapshots: 0, packs: 0, blobs: 0, packsRead: 0, blobsRead: 0 };
  try {
    await repo.loadIndex();
  } catch (err) {
    report.errors.push(`index: ${describeError(err)}`);
    return report;
  }
  report.packs = repo.index.packs.size;
  report.blobs = repo.index.blobCount;

  const stored = new Map((await listAll(repo.storage, DATA_PREFIX)).map((o) => [idOf(o.key), o]));
  for (const [pack, info] of repo.index.packs) {
    const obj = stored.get(pack);
    if (!obj) report.errors.push(`pack ${pack.slice(0, 12)} is in the index but missing from storage`);
    else if (obj.size !== info.size) report.errors.push(`pack ${pack.slice(0, 12)} has size ${obj.size}, the index says ${info.size}`);
  }
  for (const [pack, obj] of stored) {
    if (!HEX64.test(pack) || obj.key !== packKey(pack)) report.warnings.push(`stray object ${obj.key} in data/`);
    else if (!repo.index.packs.has(pack)) report.warnings.push(`pack ${pack.slice(0, 12)} is not indexed (left by an interrupted backup; prune removes it)`);
  }
  const indexObjects = await listAll(repo.storage, INDEX_PREFIX);
  if (indexObjects.length === 0 && stored.size > 0) report.warnings.push('the repository has packs but no index');

  let snapshots: SnapshotRef[];
  try {
    snapshots = await listSnapshots(repo);
  } catch (err) {
    report.errors.push(`snapshots: ${describeError(err)}`);
    snapshots = [];
  }
  report.snapshots = snapshots.length;
  const seenTrees = new Set<string>();
  for (const ref of snapshots) {
    const missing = new Set<string>();
    const walk = async (treeId: string): Promise<void> => {
      if (seenTrees.has(treeId)) return;
      seenTrees.add(treeId);
      if (!repo.index.has(treeId)) {
        missing.add(treeId);
        return;
      }
      const tree = await loadTree(repo, treeId);
      for (const node of tree.nodes) {
        if (node.type === 'dir') await walk(node.subtree);
        else if (node.type === 'file') for (const id of node.content) if (!repo.index.has(id)) missing.add(id);
      }
    };
    try {
      await walk(ref.snapshot.tree);
    } catch (err) {
      report.errors.push(`snapshot ${ref.id.slice(0, 8)}: ${describeError(err)}`);
    }
    for (const id of missing) report.errors.push(`snapshot ${ref.id.slice(0, 8)} needs blob ${id.slice(0, 12)}, which is in no index`);
  }

  const percent = opts.readData ? 100 : opts.readDataPercent ?? 0;
  if (percent > 0) {
    const present = [...repo.index.packs.keys()].filter((p) => stored.has(p));
    const chosen = percent >= 100 ? present : sample(present, Math.max(1, Math.ceil((present.length * percent) / 100)));
    await forEachLimit(chosen, 2, async (pack) => {
      const problems = await readPack(repo, pack);
      report.packsRead++;
      report.blobsRead += problems.blobs;
      report.errors.push(...problems.errors);
    });
  }
  report.ok = report.errors.length === 0;
  return report;
}

async function readPack(repo: Repository, pack: string): Promise<{ errors: string[]; blobs: number }> {
  const errors: string[] = [];
  const name = `pack ${pack.slice(0, 12)}`;
  let data: Buffer;
  try {
    data = await repo.storage.get(packKey(pack));
  } catch (err) {
    return { errors: [`${name}: ${describeError(err)}`], blobs: 0 };
  }
  if (packHash(data) !== pack) errors.push(`${name} does not match its hash (damaged in storage)`);
  let entries;
  try {
    entries = parsePack(repo.keyring, data, pack);
  } catch (err) {
    errors.push(`${name}: ${describeError(err)}`);
    entries = repo.index.packs.get(pack)?.blobs ?? [];
  }
  let blobs = 0;
  for (const e of entries) {
    blobs++;
    try {
      await repo.openBlob(e.id, data.subarray(e.offset, e.offset + e.length), pack, e.rawLength);
    } catch (err) {
      errors.push(describeError(err));
    }
  }
  return { errors, blobs };
}

function sample<T>(items: T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

export interface SnapshotCheck {
  snapshot: string;
  target: string;
  ok: boolean;
  mode: 'structure' | 'read-data';
  /** share of the snapshot's data blobs read back (100 with read-data) */
  percentRead: number;
  blobs: number;
  blobsRead: number;
  bytesRead: number;
  errors: string[];
  checkedAt: string;
}

/**
 * Checks one snapshot: every tree readable, every blob it needs indexed in a
 * pack that exists; with `readDataPercent`, that share of its data blobs
 * downloaded, decrypted and re-hashed against their ids.
 */
export async function checkSnapshot(repo: Repository, ref: SnapshotRef, opts: { readDataPercent?: number; lockWaitMs?: number } = {}): Promise<SnapshotCheck> {
  return withLock(repo, { exclusive: false, operation: 'verify', waitMs: opts.lockWaitMs }, async () => {
    await repo.loadIndex();
    const percent = Math.min(100, Math.max(0, opts.readDataPercent ?? 0));
    const result: SnapshotCheck = {
      snapshot: ref.id, target: ref.snapshot.target, ok: false, mode: percent > 0 ? 'read-data' : 'structure',
      percentRead: percent, blobs: 0, blobsRead: 0, bytesRead: 0, errors: [], checkedAt: new Date().toISOString(),
    };
    const data = new Set<string>();
    const walk = async (treeId: string): Promise<void> => {
      const tree = await loadTree(repo, treeId);
      for (const node of tree.nodes) {
        if (node.type === 'dir') await walk(node.subtree);
        else if (node.type === 'file') for (const id of node.content) data.add(id);
      }
    };
    try {
      await walk(ref.snapshot.tree);
    } catch (err) {
      result.errors.push(`tree: ${describeError(err)}`);
    }
    result.blobs = data.size;
    const packs = new Set<string>();
    for (const id of data) {
      const loc = repo.index.get(id);
      if (!loc) result.errors.push(`blob ${id.slice(0, 12)} is in no index`);
      else packs.add(loc.pack);
    }
    for (const pack of packs) {
      const info = repo.index.packs.get(pack)!;
      const st = await repo.storage.stat(packKey(pack));
      if (!st) result.errors.push(`pack ${pack.slice(0, 12)} is missing from storage`);
      else if (st.size !== info.size) result.errors.push(`pack ${pack.slice(0, 12)} has size ${st.size}, the index says ${info.size}`);
    }
    if (percent > 0) {
      const ids = [...data].filter((id) => repo.index.has(id));
      const chosen = percent >= 100 ? ids : sample(ids, Math.max(1, Math.ceil((ids.length * percent) / 100)));
      await forEachLimit(chosen, 4, async (id) => {
        try {
          result.bytesRead += (await repo.loadBlob(id)).length;
          result.blobsRead++;
        } catch (err) {
          result.errors.push(describeError(err));
        }
      });
    }
    result.ok = result.errors.length === 0;
    return result;
  });
}

/** Keeps a verification report in the repository, beside what it verified (`verification/<date>/…`). */
export async function saveVerificationReport(repo: Repository, report: SnapshotCheck & Record<string, unknown>): Promise<string> {
  const day = report.checkedAt.slice(0, 10);
  const { key } = await repo.putSealed(
    (id) => `${VERIFICATION_PREFIX}${day}/${report.target}-${report.snapshot.slice(0, 8)}-${id.slice(0, 16)}`,
    report,
    'dbm-verification',
  );
  return key;
}
