import {
  chmodSync,
  chownSync,
  closeSync,
  constants as fsc,
  lstatSync,
  openSync,
  promises as fs,
  unlinkSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { discardBuffer } from './bufferPool';
import { awaitedLater, forEachLimit } from './concurrency';
import { BackupError, CorruptionError, InvalidInputError, NotFoundError, UnsafePathError } from './errors';
import type { BlobLocation } from './repository/blobIndex';
import { packKey } from './repository/layout';
import { finishFilesSync, RANGES_IN_HAND, RestoreWriter, restoringAsRoot, writeFully, type FileFinish } from './restoreWriter';
import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import type { SnapshotRef } from './snapshot';
import { loadTree, type DirNode, type FileNode, type TreeNode } from './tree';

export interface RestoreOptions {
  /** glob patterns over snapshot paths (`root/sub/file`); a match on a directory takes all below it */
  include?: string[];
  lockWaitMs?: number;
  progress?: RestoreProgress;
  /** threads besides this one writing restored data (default: one per core beyond the first, at most four; 0: none) */
  workers?: number;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  bytesWritten: number;
}

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
    const writer = new RestoreWriter(repo.keyring, { workers: opts.workers });
    try {
      await new TreeRestorer(repo, root, include, progress, writer).restore(ref.snapshot.tree);
    } finally {
      await writer.close();
    }
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
      await writeChunk(out, chunk);
      written += chunk.length;
    }
    return written;
  });
}

/**
 * Writes with backpressure, and notices a reader that went away: waiting for
 * 'drain' alone would wait forever on a pipe whose reader exited (its one
 * 'error' may have come and gone between two writes).
 */
async function writeChunk(out: Writable, chunk: Buffer): Promise<void> {
  if (out.destroyed || out.writableEnded) throw new BackupError('the reader of the restored data closed its input early');
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new BackupError('the reader of the restored data closed its input early'));
    };
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
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

interface FileJob {
  node: FileNode;
  abs: string;
}

interface PlannedBlob {
  id: string;
  loc: BlobLocation;
  /** where its bytes go: file (index into the batch) and offset */
  targets: { file: number; offset: number }[];
}

/** Files restored per batch, and their total size, before the batch is written (two batches at once: see flush). */
const BATCH_FILES = 256;
const BATCH_BYTES = 128 * 1024 * 1024;
/** Needed blobs closer than this in a pack are fetched in one read… */
const MERGE_GAP = 1024 * 1024;
/** …of at most this many bytes (a blob larger is read alone): two packs' reads at once stay a few MiB, not two whole packs. */
const MAX_READ = 4 * 1024 * 1024;

/**
 * Restores pack by pack, as restic's restorer does: files are gathered in
 * batches, the blobs they need are grouped by pack, each pack is read once
 * (in merged ranges), and every blob is written at its offsets in every file
 * that needs it. Many small files cost a few large reads, not one read each.
 */
class TreeRestorer {
  private batch: FileJob[] = [];
  private batchBytes = 0;
  /** the batch being written */
  private writing: Promise<void> = Promise.resolve();
  /** directories in post-order, for their metadata once everything is written */
  private readonly dirs: { node: DirNode; abs: string }[] = [];

  constructor(
    private readonly repo: Repository,
    private readonly root: string,
    private readonly include: string[],
    private readonly progress: RestoreProgress,
    private readonly writer: RestoreWriter,
  ) {}

  private wanted(rel: string): 'all' | 'maybe' | 'no' {
    if (this.include.some((p) => path.matchesGlob(rel, p))) return 'all';
    // Keep descending while some pattern could still match below this directory.
    return this.include.some((p) => couldMatchBelow(rel, p)) ? 'maybe' : 'no';
  }

  async restore(treeId: string): Promise<void> {
    try {
      await this.walk(treeId, this.root, '', this.include.length === 0);
      await this.flush();
    } finally {
      await this.writing; // a failed walk still lets the batch being written finish before the error is reported
    }
    // Directory metadata last, children first: writing into a directory changes its mtime.
    for (const d of this.dirs) {
      applyMeta(d.node, d.abs);
      this.progress.dirs++;
    }
  }

  private async walk(treeId: string, dir: string, rel: string, all: boolean): Promise<void> {
    const tree = await loadTree(this.repo, treeId);
    for (const node of tree.nodes) {
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      const decision = all ? 'all' : this.wanted(childRel);
      if (decision === 'no' || (decision === 'maybe' && node.type !== 'dir')) continue;
      const abs = path.join(dir, node.name);
      if (node.type === 'dir') {
        await fs.mkdir(abs).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        await ensureRealDir(abs, this.root);
        await this.walk(node.subtree, abs, childRel, decision === 'all');
        this.dirs.push({ node, abs });
      } else if (node.type === 'symlink') {
        await this.restoreSymlink(node, abs);
      } else {
        this.batch.push({ node, abs });
        this.batchBytes += node.size;
        if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) await this.flush();
      }
    }
  }

  /**
   * Writes the files gathered so far, while the walk gathers the next batch
   * and this thread creates its files: two batches at most at once.
   */
  private async flush(): Promise<void> {
    const files = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    const previous = this.writing;
    this.writing = awaitedLater(this.writeBatch(files));
    await previous;
  }

  private async writeBatch(files: FileJob[]): Promise<void> {
    if (files.length === 0) return;
    // Synchronous file calls: restoring many small files is dominated by
    // thread-pool round trips otherwise (seven per file), and creating files
    // in parallel only contends on the directory's lock. Pack reads and large
    // decompressions stay asynchronous. Ranges go to the writer's thread
    // whenever it is free; this thread writes the others.
    const fds: number[] = [];
    try {
      for (const f of files) fds.push(createFile(f.abs));
      await forEachLimit(this.plan(files).entries(), RANGES_IN_HAND + 1, async ([pack, blobs]) => {
        for (const range of mergeRanges(blobs)) {
          const start = range[0].loc.offset;
          const end = range[range.length - 1].loc.offset + range[range.length - 1].loc.length;
          const bytes = await this.repo.storage.getRange(packKey(pack), start, end - start);
          if (bytes.length !== end - start) throw new CorruptionError(`pack ${pack.slice(0, 12)} is truncated`);
          const onWorker = this.writer.write({
            pack,
            bytes,
            blobs: range.map((b) => ({
              id: b.id,
              at: b.loc.offset - start,
              length: b.loc.length,
              rawLength: b.loc.rawLength,
              targets: b.targets.map((t) => ({ fd: fds[t.file], position: t.offset })),
            })),
          });
          if (onWorker) {
            this.progress.bytesWritten += await onWorker;
            continue;
          }
          for (const blob of range) {
            const sealed = bytes.subarray(blob.loc.offset - start, blob.loc.offset - start + blob.loc.length);
            const data = await this.repo.openBlob(blob.id, sealed, pack, blob.loc.rawLength);
            for (const t of blob.targets) {
              writeFully(fds[t.file], data, t.offset);
              this.progress.bytesWritten += data.length;
            }
            discardBuffer(data, 1); // written everywhere it goes (1: the payload's mode byte, or a decoder's spare byte)
          }
          discardBuffer(bytes);
        }
      });
      // Written: owner, mode, mtime and close, on the writer's thread when there is one (after the ranges it has).
      const finishing = files.map((f, i): FileFinish => ({ fd: fds[i], uid: f.node.uid, gid: f.node.gid, mode: f.node.mode, mtime: mtimeSeconds(f.node) }));
      fds.length = 0; // closed by whoever finishes them, whatever happens
      const onWorker = this.writer.finish(finishing);
      if (onWorker) await onWorker;
      else finishFilesSync(finishing);
      this.progress.files += files.length;
    } finally {
      if (fds.length > 0) {
        await this.writer.settled(); // nothing may write to a descriptor once it is closed (its number is reused)
        for (const fd of fds) closeSync(fd);
      }
    }
  }

  /** pack → the blobs this batch needs from it, each with every place it goes. */
  private plan(files: FileJob[]): Map<string, PlannedBlob[]> {
    const byPack = new Map<string, Map<string, PlannedBlob>>();
    files.forEach((f, file) => {
      let offset = 0;
      for (const id of f.node.content) {
        const loc = this.repo.index.get(id);
        if (!loc) throw new NotFoundError(`${f.abs}: blob ${id.slice(0, 12)} is in no index (run check)`);
        const blobs = byPack.get(loc.pack) ?? new Map<string, PlannedBlob>();
        byPack.set(loc.pack, blobs);
        const planned = blobs.get(id) ?? { id, loc, targets: [] };
        blobs.set(id, planned);
        planned.targets.push({ file, offset });
        offset += loc.rawLength;
      }
    });
    return new Map([...byPack].map(([pack, blobs]) => [pack, [...blobs.values()].sort((a, b) => a.loc.offset - b.loc.offset)]));
  }

  private async restoreSymlink(node: TreeNode & { type: 'symlink' }, abs: string): Promise<void> {
    const existing = lstatOrNull(abs);
    if (existing?.isDirectory()) throw new UnsafePathError(`${abs} exists and is a directory`);
    if (existing) unlinkSync(abs);
    await fs.symlink(node.target, abs);
    await fs.lutimes(abs, mtimeSeconds(node), mtimeSeconds(node)).catch(() => undefined);
    this.progress.files++;
  }
}

/** A directory's owner, mode and mtime (files are finished through their descriptors: finishFilesSync). */
function applyMeta(node: TreeNode, abs: string): void {
  const seconds = mtimeSeconds(node);
  if (restoringAsRoot) {
    try {
      chownSync(abs, node.uid, node.gid);
    } catch {
      // an owner that does not exist here: keep the restoring user
    }
  }
  chmodSync(abs, node.mode & 0o7777);
  utimesSync(abs, seconds, seconds);
}

function mtimeSeconds(node: TreeNode): number {
  return Number(BigInt(node.mtimeNs) / 1000n) / 1e6;
}

/** Null when nothing is there. (A thrown ENOENT builds an Error with its stack: ~40 µs, per restored file.) */
function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

/**
 * Opens a new file to restore into, never through what is there: one call
 * when nothing is (the usual case); a file or symlink there is replaced, not
 * written to (a file may be a hard link planted to another one, /etc/shadow
 * say, which writing in place would overwrite); anything else is refused.
 */
function createFile(abs: string): number {
  const create = (): number => openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    return create();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const existing = lstatOrNull(abs);
  if (existing && !existing.isSymbolicLink() && !existing.isFile()) throw new UnsafePathError(`${abs} exists and is not a file`);
  if (existing) unlinkSync(abs);
  try {
    return create();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UnsafePathError(`${abs} reappeared while it was being replaced`);
    throw err;
  }
}


/** Groups blobs (sorted by offset) into runs that are cheaper to read whole. */
function mergeRanges(blobs: PlannedBlob[]): PlannedBlob[][] {
  const ranges: PlannedBlob[][] = [];
  let current: PlannedBlob[] = [];
  let end = -1;
  for (const b of blobs) {
    if (current.length > 0 && (b.loc.offset - end > MERGE_GAP || b.loc.offset + b.loc.length - current[0].loc.offset > MAX_READ)) {
      ranges.push(current);
      current = [];
    }
    current.push(b);
    end = b.loc.offset + b.loc.length;
  }
  if (current.length > 0) ranges.push(current);
  return ranges;
}

/** Whether some path below directory `rel` could match `pattern`. */
function couldMatchBelow(rel: string, pattern: string): boolean {
  if (pattern.includes('**')) return true;
  const depth = rel.split('/').length;
  const head = pattern.split('/').slice(0, depth).join('/');
  return pattern.split('/').length > depth && path.matchesGlob(rel, head);
}
