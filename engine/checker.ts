import { forEachLimit } from './concurrency';
import { describeError } from './errors';
import { INDEX_PREFIX, DATA_PREFIX, HEX64, idOf, packKey } from './repository/layout';
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
