import { CorruptionError } from './errors';
import { indexGroups, type IndexFile } from './repository/blobIndex';
import { DATA_PREFIX, INDEX_PREFIX, idOf, indexKey, packKey } from './repository/layout';
import { withLock } from './repository/lock';
import type { PackEntry } from './repository/pack';
import type { Repository } from './repository/repository';
import { listSnapshots } from './snapshot';
import { listAll } from './storage/storage';
import { loadTree } from './tree';

export interface PruneOptions {
  dryRun?: boolean;
  /** A partly used pack is rewritten when more than this share of it is unused (default 5 %). */
  maxUnusedPercent?: number;
  lockWaitMs?: number;
}

export interface PruneReport {
  packsKept: number;
  packsDeleted: number;
  packsRepacked: number;
  /** packs no index names: leftovers of interrupted backups */
  packsUnindexed: number;
  /** spool files of writers that were killed (a local repository's `data/…tmp-…`) */
  spoolFilesRemoved: number;
  blobsRemoved: number;
  bytesFreed: number;
  indexFilesReplaced: number;
  dryRun: boolean;
}

const PACKS_PER_INDEX_FILE = 5000;

/**
 * Removes data no snapshot needs. Crash-safe order: (1) copy still-used blobs
 * out of packs being rewritten, into new packs with their own index; (2) write
 * an index for the packs kept; (3) delete the old index objects; (4) delete
 * the packs. A crash at any point leaves every snapshot readable; at worst
 * some packs are unreferenced, and the next prune removes them.
 */
export async function prune(repo: Repository, opts: PruneOptions = {}): Promise<PruneReport> {
  return withLock(repo, { exclusive: true, operation: 'prune', waitMs: opts.lockWaitMs }, () => run(repo, opts));
}

async function run(repo: Repository, opts: PruneOptions): Promise<PruneReport> {
  const maxUnused = (opts.maxUnusedPercent ?? 5) / 100;
  const oldIndexKeys = (await listAll(repo.storage, INDEX_PREFIX)).map((o) => o.key);
  await repo.loadIndex();
  const used = await usedBlobs(repo);

  const stored = await listAll(repo.storage, DATA_PREFIX);
  const report: PruneReport = {
    packsKept: 0, packsDeleted: 0, packsRepacked: 0, packsUnindexed: 0, spoolFilesRemoved: 0,
    blobsRemoved: 0, bytesFreed: 0, indexFilesReplaced: 0, dryRun: !!opts.dryRun,
  };
  const claimed = new Set<string>();
  const keep: IndexFile['packs'] = [];
  const repack: { pack: string; blobs: PackEntry[] }[] = [];
  const remove: string[] = [];
  const packIds = [...repo.index.packs.keys()].sort();
  for (const pack of packIds) {
    const info = repo.index.packs.get(pack)!;
    const live: PackEntry[] = [];
    let unusedBytes = 0;
    for (const blob of info.blobs) {
      if (used.has(blob.id) && !claimed.has(blob.id)) {
        claimed.add(blob.id);
        live.push(blob);
      } else {
        unusedBytes += blob.length;
        report.blobsRemoved++;
      }
    }
    if (live.length === 0) {
      remove.push(pack);
      report.packsDeleted++;
      report.bytesFreed += info.size;
    } else if (unusedBytes > info.size * maxUnused) {
      repack.push({ pack, blobs: live });
      remove.push(pack);
      report.packsRepacked++;
      report.bytesFreed += unusedBytes;
    } else {
      keep.push({ id: pack, size: info.size, blobs: info.blobs });
      report.packsKept++;
    }
  }
  for (const id of used) {
    if (!claimed.has(id)) throw new CorruptionError(`a snapshot needs blob ${id.slice(0, 12)}, which is in no pack; run check; nothing was deleted`);
  }
  const unindexed = stored.filter((o) => !repo.index.packs.has(idOf(o.key)));
  report.packsUnindexed = unindexed.length;
  report.bytesFreed += unindexed.reduce((sum, o) => sum + o.size, 0);
  const spool = await repo.storage.clearSpool(!!opts.dryRun);
  report.spoolFilesRemoved = spool.files;
  report.bytesFreed += spool.bytes;
  if (opts.dryRun) return report;

  // (1) rewrite partly used packs
  for (const { pack, blobs } of repack) {
    const data = await repo.storage.get(packKey(pack));
    for (const blob of blobs) {
      const sealed = data.subarray(blob.offset, blob.offset + blob.length);
      await repo.openBlob(blob.id, sealed, pack, blob.rawLength); // never copy damaged data forward
      await repo.copySealedBlob(blob.type, blob.id, Buffer.from(sealed), blob.rawLength);
    }
  }
  await repo.flush();
  // Under the exclusive lock, any index object not listed at the start is one we just wrote.
  const oldIndex = new Set(oldIndexKeys);
  const newIndexKeys = new Set((await listAll(repo.storage, INDEX_PREFIX)).map((o) => o.key).filter((k) => !oldIndex.has(k)));
  // (2) index for the packs we keep
  for (const packs of indexGroups(keep, PACKS_PER_INDEX_FILE)) {
    const { key } = await repo.putSealed(indexKey, { version: 1, packs } satisfies IndexFile, 'dbm-index');
    newIndexKeys.add(key);
  }
  // (3) old index objects
  for (const key of oldIndexKeys) {
    if (newIndexKeys.has(key)) continue;
    await repo.storage.delete(key);
    report.indexFilesReplaced++;
  }
  // (4) packs
  for (const pack of remove) await repo.storage.delete(packKey(pack));
  for (const o of unindexed) await repo.storage.delete(o.key);
  return report;
}

/** Every blob some snapshot needs: its trees and their files' data. */
export async function usedBlobs(repo: Repository): Promise<Set<string>> {
  const used = new Set<string>();
  const walk = async (treeId: string): Promise<void> => {
    if (used.has(treeId)) return;
    used.add(treeId);
    const tree = await loadTree(repo, treeId);
    for (const node of tree.nodes) {
      if (node.type === 'dir') await walk(node.subtree);
      else if (node.type === 'file') for (const id of node.content) used.add(id);
    }
  };
  for (const ref of await listSnapshots(repo)) await walk(ref.snapshot.tree);
  return used;
}
