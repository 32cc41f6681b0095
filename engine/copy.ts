import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import { saveSnapshot, type SnapshotRef } from './snapshot';
import { loadTree, saveTree, type TreeNode } from './tree';

/**
 * Copies a snapshot into another repository (a second MinIO/S3: the "2" and
 * "1" of 3-2-1). Repositories have their own keys, so blob ids differ: every
 * blob is read from the source, decrypted, and stored in the destination,
 * which dedups against what it already has. One blob in memory at a time.
 */
export async function copySnapshot(source: Repository, dest: Repository, ref: SnapshotRef, opts: { lockWaitMs?: number } = {}): Promise<SnapshotRef> {
  return withLock(source, { exclusive: false, operation: 'copy (source)', waitMs: opts.lockWaitMs }, () =>
    withLock(dest, { exclusive: false, operation: 'copy (destination)', waitMs: opts.lockWaitMs }, async () => {
      await source.loadIndex();
      await dest.loadIndex();
      const before = { ...dest.counters };
      const copyTree = async (treeId: string): Promise<string> => {
        const nodes: TreeNode[] = [];
        for (const node of (await loadTree(source, treeId)).nodes) {
          if (node.type === 'dir') nodes.push({ ...node, subtree: await copyTree(node.subtree) });
          else if (node.type === 'file') {
            const content: string[] = [];
            for (const id of node.content) content.push((await dest.saveBlob('data', await source.loadBlob(id))).id);
            nodes.push({ ...node, content });
          } else nodes.push(node);
        }
        return saveTree(dest, { nodes });
      };
      const tree = await copyTree(ref.snapshot.tree);
      await dest.flush();
      return saveSnapshot(dest, {
        ...ref.snapshot,
        tree,
        // the parent lives in the other repository; copies stand alone
        parent: null,
        tags: { ...ref.snapshot.tags, copied_from: ref.id.slice(0, 16) },
        stats: { ...ref.snapshot.stats, bytesAdded: dest.counters.bytesAdded - before.bytesAdded, bytesStored: dest.counters.bytesStored - before.bytesStored },
      });
    }),
  );
}
