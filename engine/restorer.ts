import { constants as fsc, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { forEachLimit } from './concurrency';
import { InvalidInputError, UnsafePathError } from './errors';
import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import type { SnapshotRef } from './snapshot';
import { loadTree, type DirNode, type FileNode, type TreeNode } from './tree';

export interface RestoreOptions {
  /** glob patterns over snapshot paths (`root/sub/file`); a match on a directory takes all below it */
  include?: string[];
  lockWaitMs?: number;
  progress?: RestoreProgress;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  bytesWritten: number;
}

const FILES_AT_ONCE = 4;
const CHUNKS_AHEAD = 2;

/**
 * Restores a tree snapshot under `target`. Every name was checked when its
 * tree was loaded, and nothing is ever written through a symlink: a path that
 * would pass through one (planted in the target, or made by the snapshot
 * itself) is refused.
 */
export async function restoreTree(repo: Repository, ref: SnapshotRef, target: string, opts: RestoreOptions = {}): Promise<RestoreProgress> {
  const progress = opts.progress ?? { files: 0, dirs: 0, bytesWritten: 0 };
  const root = path.resolve(target);
  return withLock(repo, { exclusive: false, operation: 'restore', waitMs: opts.lockWaitMs }, async () => {
    await repo.loadIndex();
    await fs.mkdir(root, { recursive: true });
    await ensureRealDir(root, root);
    const include = opts.include ?? [];
    const restorer = new TreeRestorer(repo, root, include, progress);
    await restorer.restoreDir(ref.snapshot.tree, root, '', include.length === 0);
    return progress;
  });
}

/** Writes one stream entry of a snapshot (default: its only entry) to `out`. */
export async function restoreStream(repo: Repository, ref: SnapshotRef, name: string | undefined, out: Writable, opts: { lockWaitMs?: number } = {}): Promise<number> {
  return withLock(repo, { exclusive: false, operation: 'restore', waitMs: opts.lockWaitMs }, async () => {
    await repo.loadIndex();
    const tree = await loadTree(repo, ref.snapshot.tree);
    const files = tree.nodes.filter((n): n is FileNode => n.type === 'file');
    let node: FileNode | undefined;
    if (name) node = files.find((n) => n.name === name);
    else if (files.length === 1) node = files[0];
    else throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} has ${files.length} entries; name one (${files.map((f) => f.name).join(', ')})`);
    if (!node) throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} has no entry ${JSON.stringify(name)}`);
    let written = 0;
    for await (const chunk of readContent(repo, node.content)) {
      if (!out.write(chunk)) await once(out, 'drain');
      written += chunk.length;
    }
    return written;
  });
}

/** A file's chunks in order, a few fetched ahead. */
export async function* readContent(repo: Repository, content: string[]): AsyncGenerator<Buffer> {
  const ahead: Promise<Buffer>[] = [];
  let next = 0;
  while (next < content.length || ahead.length > 0) {
    while (ahead.length < CHUNKS_AHEAD && next < content.length) {
      const p = repo.loadBlob(content[next++]);
      p.catch(() => undefined); // surfaced when awaited
      ahead.push(p);
    }
    yield await ahead.shift()!;
  }
}

async function ensureRealDir(dir: string, root: string): Promise<void> {
  const st = await fs.lstat(dir);
  if (st.isSymbolicLink()) throw new UnsafePathError(`refusing to restore through symlink ${dir}`);
  if (!st.isDirectory()) throw new UnsafePathError(`${dir} exists and is not a directory`);
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UnsafePathError(`${dir} is outside the restore target`);
}

class TreeRestorer {
  constructor(
    private readonly repo: Repository,
    private readonly root: string,
    private readonly include: string[],
    private readonly progress: RestoreProgress,
  ) {}

  private wanted(rel: string): 'all' | 'maybe' | 'no' {
    if (this.include.some((p) => path.matchesGlob(rel, p))) return 'all';
    // Keep descending while some pattern could still match below this directory.
    return this.include.some((p) => couldMatchBelow(rel, p)) ? 'maybe' : 'no';
  }

  async restoreDir(treeId: string, dir: string, rel: string, all: boolean): Promise<void> {
    const tree = await loadTree(this.repo, treeId);
    const dirs: { node: DirNode; abs: string; rel: string; all: boolean }[] = [];
    const others: { node: TreeNode; abs: string }[] = [];
    for (const node of tree.nodes) {
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      const decision = all ? 'all' : this.wanted(childRel);
      if (decision === 'no') continue;
      if (decision === 'maybe' && node.type !== 'dir') continue;
      const abs = path.join(dir, node.name);
      if (node.type === 'dir') dirs.push({ node, abs, rel: childRel, all: decision === 'all' });
      else others.push({ node, abs });
    }
    await forEachLimit(others, FILES_AT_ONCE, async ({ node, abs }) => {
      if (node.type === 'file') await this.restoreFile(node, abs);
      else if (node.type === 'symlink') await this.restoreSymlink(node, abs);
    });
    for (const d of dirs) {
      await fs.mkdir(d.abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await ensureRealDir(d.abs, this.root);
      await this.restoreDir(d.node.subtree, d.abs, d.rel, d.all);
      // Directory metadata last: writing children would change its mtime.
      await this.applyMeta(d.node, d.abs);
      this.progress.dirs++;
    }
  }

  private async restoreFile(node: FileNode, abs: string): Promise<void> {
    const existing = await fs.lstat(abs).catch(() => null);
    if (existing?.isSymbolicLink()) await fs.unlink(abs);
    else if (existing && !existing.isFile()) throw new UnsafePathError(`${abs} exists and is not a file`);
    const handle = await fs.open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of readContent(this.repo, node.content)) {
        await handle.write(chunk);
        this.progress.bytesWritten += chunk.length;
      }
    } finally {
      await handle.close();
    }
    await this.applyMeta(node, abs);
    this.progress.files++;
  }

  private async restoreSymlink(node: TreeNode & { type: 'symlink' }, abs: string): Promise<void> {
    const existing = await fs.lstat(abs).catch(() => null);
    if (existing?.isDirectory()) throw new UnsafePathError(`${abs} exists and is a directory`);
    if (existing) await fs.unlink(abs);
    await fs.symlink(node.target, abs);
    const seconds = Number(BigInt(node.mtimeNs) / 1000n) / 1e6;
    await fs.lutimes(abs, seconds, seconds).catch(() => undefined);
    this.progress.files++;
  }

  private async applyMeta(node: TreeNode, abs: string): Promise<void> {
    if (process.getuid?.() === 0) await fs.chown(abs, node.uid, node.gid).catch(() => undefined);
    await fs.chmod(abs, node.mode & 0o7777);
    const seconds = Number(BigInt(node.mtimeNs) / 1000n) / 1e6;
    await fs.utimes(abs, seconds, seconds);
  }
}

/** Whether some path below directory `rel` could match `pattern`. */
function couldMatchBelow(rel: string, pattern: string): boolean {
  if (pattern.includes('**')) return true;
  const depth = rel.split('/').length;
  const head = pattern.split('/').slice(0, depth).join('/');
  return pattern.split('/').length > depth && path.matchesGlob(rel, head);
}
