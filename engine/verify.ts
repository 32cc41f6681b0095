import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ByteSource } from './chunker';
import { blobId } from './crypto/keyring';
import type { Repository } from './repository/repository';
import type { SnapshotRef } from './snapshot';
import { loadTree } from './tree';

export interface TreeVerification {
  ok: boolean;
  files: number;
  bytes: number;
  /** relative path and what is wrong with it */
  problems: { path: string; problem: string }[];
}

/**
 * Checks a restored tree against its snapshot: every entry present with its
 * type, every file's content re-chunked with the repository's chunker and
 * hashed to the ids the manifest lists (so the comparison is exact), every
 * symlink pointing where it did. `root` is where the snapshot's root entries are.
 */
export async function verifyRestoredTree(repo: Repository, ref: SnapshotRef, root: string, opts: { include?: string[] } = {}): Promise<TreeVerification> {
  const result: TreeVerification = { ok: true, files: 0, bytes: 0, problems: [] };
  const work = repo.chunker.workBuffer();
  const include = opts.include ?? [];
  const wanted = (rel: string): boolean =>
    include.length === 0 || include.some((p) => path.matchesGlob(rel, p) || rel.startsWith(`${p.replace(/\/+$/, '')}/`));
  const walk = async (treeId: string, dir: string, rel: string): Promise<void> => {
    for (const node of (await loadTree(repo, treeId)).nodes) {
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      const abs = path.join(dir, node.name);
      if (node.type === 'dir') {
        await walk(node.subtree, abs, childRel);
        continue;
      }
      if (!wanted(childRel)) continue;
      const st = await fs.lstat(abs).catch(() => null);
      if (!st) {
        result.problems.push({ path: childRel, problem: 'missing' });
      } else if (node.type === 'symlink') {
        if (!st.isSymbolicLink()) result.problems.push({ path: childRel, problem: 'not a symlink' });
        else if ((await fs.readlink(abs)) !== node.target) result.problems.push({ path: childRel, problem: 'symlink points elsewhere' });
      } else if (!st.isFile()) {
        result.problems.push({ path: childRel, problem: 'not a regular file' });
      } else if (st.size !== node.size) {
        result.problems.push({ path: childRel, problem: `size ${st.size}, the snapshot says ${node.size}` });
      } else {
        const ids: string[] = [];
        const handle = await fs.open(abs, 'r');
        try {
          const source: ByteSource = { read: async (into, off, len) => (await handle.read(into, off, len, null)).bytesRead };
          for await (const chunk of repo.chunker.chunks(source, work)) ids.push(blobId(repo.keyring, chunk));
        } finally {
          await handle.close();
        }
        if (ids.length !== node.content.length || ids.some((id, i) => id !== node.content[i])) {
          result.problems.push({ path: childRel, problem: 'content differs from the snapshot' });
        }
        result.files++;
        result.bytes += st.size;
      }
    }
  };
  await repo.loadIndex();
  await walk(ref.snapshot.tree, root, '');
  result.ok = result.problems.length === 0;
  return result;
}
