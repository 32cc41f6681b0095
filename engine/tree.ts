import { CorruptionError, UnsafePathError } from './errors';
import { HEX64 } from './repository/layout';
import type { Repository } from './repository/repository';

/**
 * A tree is one directory's listing, stored as a blob of its own (so an
 * unchanged directory dedups to nothing). Entries are sorted by name.
 */
interface BaseNode {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** modification time in nanoseconds since the epoch, as a decimal string */
  mtimeNs: string;
}

export interface FileNode extends BaseNode {
  type: 'file';
  size: number;
  /** data blob ids, in order */
  content: string[];
  /** change detection only (never restored): a file whose size, mtime, ctime and inode match its parent's is not re-read */
  ctimeNs?: string;
  inode?: string;
  /** for objects from an object store (target minio): what identifies a version, and the headers to restore */
  object?: { etag: string; lastModified: string; headers: Record<string, string> };
}

export interface DirNode extends BaseNode {
  type: 'dir';
  subtree: string;
}

export interface SymlinkNode extends BaseNode {
  type: 'symlink';
  target: string;
}

export type TreeNode = FileNode | DirNode | SymlinkNode;

export interface Tree {
  nodes: TreeNode[];
}

/** A name that is safe to join under a restore target. */
export function isSafeName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= 4096 &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\\') &&
    !name.includes('\0')
  );
}

export async function saveTree(repo: Repository, tree: Tree): Promise<string> {
  tree.nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { id } = await repo.saveBlob('tree', Buffer.from(JSON.stringify(tree)));
  return id;
}

/** Loads a tree and refuses anything a restore could be tricked by. */
export async function loadTree(repo: Repository, id: string): Promise<Tree> {
  return parseTree(await repo.loadBlob(id), id);
}

/** A tree blob's bytes as a tree, or a one-line error naming what is wrong with it. */
export function parseTree(data: Buffer, id: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(data.toString('utf8')) as Tree;
  } catch {
    throw new CorruptionError(`tree ${id.slice(0, 12)} is not valid JSON`);
  }
  if (!tree || typeof tree !== 'object' || !Array.isArray(tree.nodes)) throw new CorruptionError(`tree ${id.slice(0, 12)} has no node list`);
  const seen = new Set<string>();
  for (const node of tree.nodes as unknown[] as TreeNode[]) {
    if (!node || typeof node !== 'object') throw new CorruptionError(`tree ${id.slice(0, 12)} has an entry that is not an object`);
    if (!isSafeName(node.name)) {
      throw new UnsafePathError(`tree ${id.slice(0, 12)} has an unsafe entry name ${JSON.stringify(node.name)}`);
    }
    if (seen.has(node.name)) throw new UnsafePathError(`tree ${id.slice(0, 12)} lists ${JSON.stringify(node.name)} twice`);
    seen.add(node.name);
    const ok =
      (node.type === 'file' && Array.isArray(node.content) && node.content.every((c) => typeof c === 'string' && HEX64.test(c)) && wholeNumber(node.size)) ||
      (node.type === 'dir' && typeof node.subtree === 'string' && HEX64.test(node.subtree)) ||
      (node.type === 'symlink' && typeof node.target === 'string');
    if (!ok) throw new CorruptionError(`tree ${id.slice(0, 12)} has a malformed entry ${JSON.stringify(node.name)}`);
  }
  return tree;
}

function wholeNumber(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
