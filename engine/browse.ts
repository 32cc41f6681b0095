import { InvalidInputError, NotFoundError } from './errors';
import { acquireLock, withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import { readContent } from './restorer';
import type { SnapshotRef } from './snapshot';
import { loadTree, type FileNode, type TreeNode } from './tree';

/**
 * Looking into a snapshot without restoring it: one directory's entries at a
 * time, and one file's content as a stream (the web console's browser and
 * download). Reads hold a shared lock, so a prune cannot take packs away
 * under them.
 */
export interface BrowseEntry {
  name: string;
  type: TreeNode['type'];
  /** files: plain size in bytes */
  size?: number;
  mode: number;
  /** modification time, ISO 8601 */
  mtime: string;
  /** symlinks: where they point */
  target?: string;
}

/** A path inside a snapshot as its names: "/", "" and "a/b" are fine; "." and ".." components are not. */
export function snapshotPathParts(p: string): string[] {
  const parts = p.split('/').filter((s) => s !== '');
  if (parts.some((s) => s === '.' || s === '..' || s.includes('\0'))) throw new InvalidInputError(`path ${JSON.stringify(p)}: "." and ".." are not allowed`);
  return parts;
}

async function nodeAt(repo: Repository, ref: SnapshotRef, parts: string[]): Promise<TreeNode | null> {
  let tree = await loadTree(repo, ref.snapshot.tree);
  let node: TreeNode | null = null;
  for (const [i, name] of parts.entries()) {
    node = tree.nodes.find((n) => n.name === name) ?? null;
    if (!node) throw new NotFoundError(`snapshot ${ref.id.slice(0, 8)} has no ${parts.slice(0, i + 1).join('/')}`);
    if (i < parts.length - 1) {
      if (node.type !== 'dir') throw new NotFoundError(`${parts.slice(0, i + 1).join('/')} in snapshot ${ref.id.slice(0, 8)} is not a directory`);
      tree = await loadTree(repo, node.subtree);
    }
  }
  return node; // null: the root
}

const entryOf = (n: TreeNode): BrowseEntry => ({
  name: n.name,
  type: n.type,
  ...(n.type === 'file' ? { size: n.size } : {}),
  mode: n.mode,
  mtime: new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString(),
  ...(n.type === 'symlink' ? { target: n.target } : {}),
});

/** The entries of one directory of a snapshot (the root for "/"), directories first. */
export async function listSnapshotDir(repo: Repository, ref: SnapshotRef, dir: string): Promise<BrowseEntry[]> {
  const parts = snapshotPathParts(dir);
  return withLock(repo, { exclusive: false, operation: 'browse' }, async () => {
    await repo.loadIndex();
    const node = await nodeAt(repo, ref, parts);
    if (node && node.type !== 'dir') throw new InvalidInputError(`${parts.join('/')} in snapshot ${ref.id.slice(0, 8)} is a ${node.type}, not a directory`);
    const tree = await loadTree(repo, node ? node.subtree : ref.snapshot.tree);
    return tree.nodes.map(entryOf).sort((a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  });
}

/**
 * One file of a snapshot: its node, and its content as chunks read a few
 * ahead. The shared lock is taken before this returns and held until the
 * content is read to the end, or `close` is called (by whoever abandons it,
 * read or not; calling it twice is harmless).
 */
export async function openSnapshotFile(
  repo: Repository,
  ref: SnapshotRef,
  file: string,
): Promise<{ node: FileNode; content: AsyncGenerator<Buffer>; close(): Promise<void> }> {
  const parts = snapshotPathParts(file);
  if (parts.length === 0) throw new InvalidInputError('path: name a file of the snapshot');
  const lock = await acquireLock(repo, { exclusive: false, operation: 'browse' });
  let released: Promise<void> | null = null;
  const close = (): Promise<void> => (released ??= lock.release().catch(() => undefined));
  try {
    await repo.loadIndex();
    const node = await nodeAt(repo, ref, parts);
    if (!node || node.type !== 'file') throw new InvalidInputError(`${parts.join('/')} in snapshot ${ref.id.slice(0, 8)} is a ${node?.type ?? 'dir'}, not a file`);
    async function* content(): AsyncGenerator<Buffer> {
      try {
        yield* readContent(repo, (node as FileNode).content);
      } finally {
        await close();
      }
    }
    return { node, content: content(), close };
  } catch (err) {
    await close();
    throw err;
  }
}
