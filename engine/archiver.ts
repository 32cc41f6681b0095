import { constants as fsc, lstatSync, promises as fs, type BigIntStats, type Dirent } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { ByteSource, Chunker } from './chunker';
import { BufferPool, discardBuffer } from './bufferPool';
import { awaitedLater, forEachLimit, Semaphore } from './concurrency';
import { blobId } from './crypto/keyring';
import { BackupCancelledError, BackupError, InvalidInputError } from './errors';
import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import {
  checkTargetName,
  findParent,
  saveSnapshot,
  type BackupType,
  type Snapshot,
  type SnapshotRef,
  type SnapshotStats,
} from './snapshot';
import { Sealer } from './sealer';
import { loadTree, saveTree, type DirNode, type FileNode, type SymlinkNode, type Tree, type TreeNode } from './tree';

export const PROGRAM = 'data-backup-manager 0.1.0';

/** Chunk copies, reused: in flight are two per file being read and those waiting to be written. */
const chunkPool = new BufferPool(8, 12 * 1024 * 1024);

/** Live counters of a running backup; read them for progress displays. */
export interface BackupProgress {
  files: number;
  dirs: number;
  filesUnchanged: number;
  bytesRead: number;
  totalSize: number;
  warnings: string[];
  /** set by commitSnapshot from the options: checked as data is read */
  limits?: BackupLimits;
}

/** When a running backup must stop: cancelled, or over its budget. */
export interface BackupLimits {
  signal?: AbortSignal;
  /** bytes read at most */
  maxBytes?: number;
  /** stop after this moment (ms since the epoch) */
  deadline?: number;
}

/** Throws BackupCancelledError when the backup was cancelled or ran over its budget (nothing is committed then). */
export function checkLimits(progress: BackupProgress): void {
  const l = progress.limits;
  if (!l) return;
  if (l.signal?.aborted) throw new BackupCancelledError('the backup was cancelled; nothing was committed');
  if (l.maxBytes !== undefined && progress.bytesRead > l.maxBytes) {
    throw new BackupCancelledError(`the backup read more than its budget of ${l.maxBytes} bytes (DBM_BACKUP_MAX_BYTES); nothing was committed`);
  }
  if (l.deadline !== undefined && Date.now() > l.deadline) throw new BackupCancelledError('the backup ran past its time budget (DBM_BACKUP_MAX_SECONDS); nothing was committed');
}

export interface BackupOptions {
  target: string;
  type?: BackupType;
  tags?: Record<string, string>;
  /** glob patterns: without '/' they match a name anywhere, with '/' a path below the backed-up root */
  excludes?: string[];
  /** Use this parent instead of finding one by type (null: none). */
  parent?: SnapshotRef | null;
  meta?: Record<string, unknown>;
  lockWaitMs?: number;
  progress?: BackupProgress;
  /**
   * How many files at or above the minimum chunk size, or streams, are read
   * at once (default 1: the backup already keeps three chunks sealing at
   * once, which fills two cores, and every extra one holds an 8 MiB work buffer).
   */
  concurrency?: number;
  /** the snapshot's time (default: now); for imports and tests */
  time?: Date;
  /** cancels the backup (nothing is committed) */
  signal?: AbortSignal;
  /** a budget: at most this many bytes read, at most this many seconds */
  maxBytes?: number;
  maxSeconds?: number;
}

/** A named byte stream to store (a database dump, stdin). */
export interface StreamEntry {
  name: string;
  open(): Readable | Promise<Readable>;
  /** Called after the stream ended: throw if the producer failed (e.g. pg_dump exited non-zero). */
  finished?(): Promise<void>;
  /** Called instead of `finished` when the backup fails after `open`: stop the producer. */
  abort?(): void | Promise<void>;
  /** Where to cut the stream into chunks, when the format says better than content-defined chunking (default). */
  split?: ChunkSplitter;
  /** The stream's chunks are the engine's to free once read (a child process's output; see streamSource). */
  freeChunks?: boolean;
  /** Shown every piece of the stream as it is read, in order (only during the call): a producer's own accounting (rows of a dump). */
  observe?(piece: Buffer): void;
}

/**
 * Cuts a source into chunks (views into `work`, valid until the next is
 * requested). Any cut points restore the same bytes; they decide what deduplicates.
 */
export type ChunkSplitter = (chunker: Chunker, source: ByteSource, work: Buffer) => AsyncIterable<Buffer>;

export function newProgress(): BackupProgress {
  return { files: 0, dirs: 0, filesUnchanged: 0, bytesRead: 0, totalSize: 0, warnings: [] };
}

/** Back up file trees. Each path becomes an entry of the snapshot's root, named by its base name. */
export async function backupTree(repo: Repository, paths: string[], opts: BackupOptions): Promise<SnapshotRef> {
  if (paths.length === 0) throw new InvalidInputError('no path to back up');
  const absolute = paths.map((p) => path.resolve(p));
  const names = new Set<string>();
  for (const p of absolute) {
    const st = await fs.lstat(p).catch((err: NodeJS.ErrnoException) => {
      throw new InvalidInputError(
        err.code === 'ENOENT' ? `path ${p} does not exist` : `path ${p} cannot be read (${err.code ?? err.message})`,
      );
    });
    if (!st.isDirectory() && !st.isFile()) throw new InvalidInputError(`path ${p} is not a file or directory`);
    const name = path.basename(p) || 'root';
    if (names.has(name)) throw new InvalidInputError(`two paths share the name ${name}; back them up separately`);
    names.add(name);
  }
  return commitSnapshot(repo, 'tree', absolute, opts, async (progress, parentTree) => {
    const sealer = newSealer(repo);
    const archiver = new TreeArchiver(repo, progress, opts.excludes ?? [], opts.concurrency ?? 1, sealer);
    try {
      return await archiver.archiveRoots(absolute, parentTree);
    } finally {
      await archiver.stop();
      await sealer.close();
    }
  });
}

/**
 * Back up named streams (dumps) as one snapshot. `opts.concurrency` of them
 * are read at once (default 1: one after another), each with its own work
 * buffer; the snapshot lists them in the order given. When one fails, the
 * others are stopped and nothing is committed.
 */
export async function backupStreams(repo: Repository, entries: StreamEntry[], opts: BackupOptions): Promise<SnapshotRef> {
  if (entries.length === 0) throw new InvalidInputError('no stream to back up');
  const names = entries.map((e) => e.name);
  const parallel = Math.max(1, Math.min(opts.concurrency ?? 1, entries.length));
  return commitSnapshot(repo, 'stream', names, { ...opts, parent: opts.parent ?? null }, async (progress) => {
    const nodes: TreeNode[] = new Array<TreeNode>(entries.length);
    const buffers: Buffer[] = [];
    const reading = new Set<StreamEntry>();
    const sealer = newSealer(repo);
    const saves = new ChunkSaves();
    // The first failure is the reason: the streams it stops then fail too ("killed by SIGTERM"),
    // and one of those could otherwise end the wait first, while the first still stops the others.
    let failure: { reason: unknown } | null = null;
    try {
      await forEachLimit(entries.entries(), parallel, async ([i, entry]) => {
        if (failure) return;
        const work = buffers.pop() ?? repo.chunker.workBuffer();
        try {
          nodes[i] = await storeStream(repo, entry, { work, progress, sealer, saves, reading, stopped: () => failure !== null });
        } catch (err) {
          if (!failure) {
            failure = { reason: err };
            await Promise.all([...reading].map(async (other) => other.abort?.()));
          }
          throw failure.reason;
        } finally {
          buffers.push(work);
        }
      });
      await saves.settled();
    } finally {
      await saves.settled().catch(() => undefined);
      await sealer.close();
    }
    return saveTree(repo, { nodes });
  });
}

/** One stream entry into the repository; `reading` holds the entries whose producer runs, for stopping them. */
async function storeStream(
  repo: Repository,
  entry: StreamEntry,
  { work, progress, sealer, saves, reading, stopped }: { work: Buffer; progress: BackupProgress; sealer: Sealer; saves: ChunkSaves; reading: Set<StreamEntry>; stopped: () => boolean },
): Promise<FileNode> {
  const stream = await entry.open();
  reading.add(entry);
  let stored: { content: string[]; size: number };
  try {
    if (stopped()) throw new BackupError('stopped: another stream of this backup failed');
    stored = await storeContent(repo, streamSource(stream, { freeChunks: entry.freeChunks, observe: entry.observe }), work, progress, { split: entry.split, sealer, saves });
  } catch (err) {
    await entry.abort?.();
    throw err;
  } finally {
    reading.delete(entry);
  }
  await entry.finished?.();
  progress.files++;
  progress.totalSize += stored.size;
  return {
    name: entry.name,
    type: 'file',
    mode: 0o600,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    mtimeNs: (BigInt(Date.now()) * 1_000_000n).toString(),
    size: stored.size,
    content: stored.content,
  };
}

/**
 * The commit protocol shared by every backup: shared lock, load the index,
 * write data, flush packs and index, and only then write the snapshot.
 * Targets with a tree of their own (object stores) build it through this.
 */
export async function commitSnapshot(
  repo: Repository,
  kind: Snapshot['kind'],
  paths: string[],
  opts: BackupOptions,
  build: (progress: BackupProgress, parentTree: string | null) => Promise<string>,
): Promise<SnapshotRef> {
  checkTargetName(opts.target);
  const type = opts.type ?? 'incremental';
  return withLock(repo, { exclusive: false, operation: `backup ${opts.target}`, waitMs: opts.lockWaitMs }, async () => {
    const started = Date.now();
    await repo.loadIndex();
    const before = { ...repo.counters };
    const parent = opts.parent !== undefined ? opts.parent : await findParent(repo, opts.target, type, paths);
    const progress = opts.progress ?? newProgress();
    progress.limits = { signal: opts.signal, maxBytes: opts.maxBytes, deadline: opts.maxSeconds ? started + opts.maxSeconds * 1000 : undefined };
    checkLimits(progress);
    const tree = await build(progress, parent ? parent.snapshot.tree : null);
    checkLimits(progress);
    await repo.flush();
    const stats: SnapshotStats = {
      files: progress.files,
      dirs: progress.dirs,
      filesUnchanged: progress.filesUnchanged,
      bytesRead: progress.bytesRead,
      bytesAdded: repo.counters.bytesAdded - before.bytesAdded,
      bytesStored: repo.counters.bytesStored - before.bytesStored,
      totalSize: progress.totalSize,
      durationMs: Date.now() - started,
    };
    const snapshot: Snapshot = {
      version: 1,
      time: (opts.time ?? new Date()).toISOString(),
      target: opts.target,
      // A backup with nothing to build on is a full one, whatever was asked.
      type: parent ? type : 'full',
      kind,
      hostname: hostname(),
      username: safeUser(),
      paths,
      tags: opts.tags ?? {},
      tree,
      parent: parent?.id ?? null,
      stats,
      ...(opts.meta ? { meta: opts.meta } : {}),
      program: PROGRAM,
    };
    return saveSnapshot(repo, snapshot);
  });
}

/** A sealer for a backup of `repo` (its workers start with its first job). */
function newSealer(repo: Repository): Sealer {
  return new Sealer({ ring: repo.keyring, level: repo.config.compressionLevel, maxBytes: repo.chunker.min });
}

/**
 * Chunks being sealed and stored at once, in a whole backup: what bounds its
 * memory for chunks (each ~1 MiB, at most the chunker's maximum). Three keep
 * a worker sealing while the main thread reads; four were no faster.
 */
const CHUNKS_IN_FLIGHT = 3;

/**
 * The chunks of a backup being sealed and stored, at most `size` at once.
 * Shared by the files of a tree, so a file's last chunks are sealed while
 * the next file is read: when each file waited for its own, the pipeline
 * drained at every file, and a tree of 3 MiB files kept ~1.3 of 2 cores busy.
 * The first failure fails every later `add` and `settled`.
 */
export class ChunkSaves {
  private readonly room: Semaphore;
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(size = CHUNKS_IN_FLIGHT) {
    this.room = new Semaphore(size);
  }

  /** Starts `save` once there is room. */
  async add(save: () => Promise<unknown>): Promise<void> {
    if (this.failure) throw this.failure;
    const release = await this.room.acquire();
    if (this.failure) {
      release();
      throw this.failure;
    }
    const done: Promise<void> = save()
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        release();
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  /** The first save that failed, if one did. */
  get failed(): unknown {
    return this.failure;
  }

  /** Once every chunk added is stored; throws the first failure. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    if (this.failure) throw this.failure;
  }
}

/**
 * Chunks a source and stores the chunks the repository lacks, compressed and
 * sealed on the sealer's workers when it has them. The chunks in flight are
 * bounded by `saves`: the caller's, shared with other sources (then they may
 * still be in flight on return: await its `settled`), or one of this call's own.
 */
export async function storeContent(
  repo: Repository,
  source: ByteSource,
  work: Buffer,
  progress: BackupProgress,
  { split, sealer, saves }: { split?: ChunkSplitter; sealer?: Sealer; saves?: ChunkSaves } = {},
): Promise<{ content: string[]; size: number }> {
  const content: string[] = [];
  const window = saves ?? new ChunkSaves();
  let size = 0;
  const chunks = split ? split(repo.chunker, source, work) : repo.chunker.chunks(source, work);
  for await (const chunk of chunks) {
    size += chunk.length;
    progress.bytesRead += chunk.length;
    checkLimits(progress);
    const id = blobId(repo.keyring, chunk);
    content.push(id);
    if (repo.hasBlob(id)) continue;
    // The chunk is a view into `work`, which the next read overwrites: copy it,
    // into a pooled buffer, back to the pool once sealed.
    const copy = chunkPool.take(chunk.length);
    chunk.copy(copy);
    await window.add(() => saveChunk(repo, id, copy, sealer));
  }
  if (!saves) await window.settled();
  return { content, size };
}

/** One new chunk (a pooled buffer) into the repository, sealed on a worker if there is one. */
async function saveChunk(repo: Repository, id: string, chunk: Buffer, sealer?: Sealer): Promise<void> {
  const onWorker = sealer?.sealChunk(id, chunk);
  if (!onWorker) {
    await repo.saveBlob('data', chunk, id);
    chunkPool.give(chunk);
    return;
  }
  // The chunk's memory now holds its sealed body: back to the pool once that is written.
  const { pieces, memory } = await onWorker;
  await repo.saveSealedBlob('data', id, pieces, memory.length, () => chunkPool.give(memory));
}

function fileSource(handle: fs.FileHandle): ByteSource {
  return {
    async read(into, offset, length) {
      const { bytesRead } = await handle.read(into, offset, length, null);
      return bytesRead;
    },
  };
}

/**
 * A stream as a byte source. `freeChunks`: the stream's chunks are nobody
 * else's (a child process's output), and each is freed once copied, not at
 * V8's next full collection: a pg_dump's 64 KiB reads otherwise piled up in
 * the C heap by the hundred (a 300 MB dump peaked ~20 MB higher).
 */
export function streamSource(stream: Readable, { freeChunks = false, observe }: { freeChunks?: boolean; observe?: (piece: Buffer) => void } = {}): ByteSource {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let chunk: Buffer | null = null;
  let pending: Buffer | null = null;
  return {
    async read(into, offset, length) {
      while (!pending || pending.length === 0) {
        const next = await iterator.next();
        if (next.done) return 0;
        chunk = pending = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        observe?.(chunk);
      }
      const n = Math.min(length, pending.length);
      pending.copy(into, offset, 0, n);
      pending = n < pending.length ? pending.subarray(n) : null;
      if (!pending && freeChunks && chunk) discardBuffer(chunk);
      return n;
    },
  };
}

/** Sibling directories whose reads start before their turn (their listing and parent tree: small). */
const DIR_LOOKAHEAD = 4;

interface DirReads {
  entries: Promise<Dirent[]>;
  parentNodes: Promise<Map<string, TreeNode>> | null;
}

/** Directories of the walk being archived at once (their files are sealed in parallel). */
const DIRS_IN_FLIGHT = 4;

class TreeArchiver {
  private readonly slots: Semaphore;
  private dirsInFlight = 0;
  /**
   * The error the backup fails with, once there is one: directories still in
   * flight stop at their next entry with it (so it is the reason reported,
   * whichever walk reaches the top first) instead of walking on.
   */
  private failure: unknown = null;
  private readonly buffers: Buffer[] = [];
  /** every large file's chunks in flight, together */
  private readonly saves = new ChunkSaves();

  constructor(
    private readonly repo: Repository,
    private readonly progress: BackupProgress,
    private readonly excludes: string[],
    concurrency: number,
    private readonly sealer: Sealer,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  /** The backup ended: nothing more is read, and the chunks still in flight (after a failure) have landed or failed. */
  async stop(): Promise<void> {
    this.failure ??= new BackupError('stopped: the backup ended');
    await this.saves.settled().catch(() => undefined);
  }

  async archiveRoots(roots: string[], parentTreeId: string | null): Promise<string> {
    const parent = parentTreeId ? await this.loadNodes(parentTreeId) : null;
    const nodes: TreeNode[] = [];
    for (const root of roots) {
      const name = path.basename(root) || 'root';
      nodes.push(await this.archiveEntry(root, name, '', parent?.get(name) ?? null));
    }
    await this.saves.settled();
    return saveTree(this.repo, { nodes });
  }

  private async loadNodes(treeId: string): Promise<Map<string, TreeNode>> {
    const tree = await loadTree(this.repo, treeId);
    return new Map(tree.nodes.map((n) => [n.name, n]));
  }

  private excluded(abs: string, rel: string, name: string): boolean {
    return this.excludes.some((pattern) =>
      pattern.startsWith('/')
        ? path.matchesGlob(abs, pattern)
        : pattern.includes('/')
          ? path.matchesGlob(rel, pattern)
          : path.matchesGlob(name, pattern),
    );
  }

  private async archiveEntry(abs: string, name: string, rel: string, parentNode: TreeNode | null, reads?: DirReads, known?: BigIntStats): Promise<TreeNode> {
    // A chunk of a file already archived that failed to land stops the walk here, not only at the next large file or the end.
    this.failure ??= this.saves.failed;
    if (this.failure) throw this.failure;
    // Synchronous: an lstat answered from the dentry cache costs microseconds, a thread-pool round trip more.
    const st = known ?? lstatSync(abs, { bigint: true });
    if (st.isDirectory()) return this.archiveDir(abs, name, rel, st, parentNode?.type === 'dir' ? parentNode : null, reads);
    if (st.isSymbolicLink()) return this.symlinkNode(abs, name, st, parentNode?.type === 'symlink' ? parentNode : null);
    return this.archiveFile(abs, name, st, parentNode?.type === 'file' ? parentNode : null);
  }

  /**
   * The reads a directory starts with — its listing, and its tree in the
   * parent snapshot — begun ahead of time for the next few sibling
   * directories: an unchanged tree is otherwise mostly waiting on them.
   */
  private startReads(abs: string, parent: DirNode | null): DirReads {
    return {
      entries: awaitedLater(fs.readdir(abs, { withFileTypes: true })),
      parentNodes: parent ? awaitedLater(this.loadNodes(parent.subtree)) : null,
    };
  }

  private async archiveDir(abs: string, name: string, rel: string, st: BigIntStats, parent: DirNode | null, reads?: DirReads): Promise<DirNode> {
    const started = reads ?? this.startReads(abs, parent);
    let entries;
    try {
      entries = await started.entries;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err; // vanished: the caller skips it
      throw new BackupError(`cannot read directory ${abs} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const parentNodes = started.parentNodes ? await started.parentNodes : null;
    const children = entries
      .map((entry) => ({ entry, abs: path.join(abs, entry.name), rel: rel ? `${rel}/${entry.name}` : entry.name }))
      .filter((c) => !this.excluded(c.abs, c.rel, c.entry.name));
    const subdirs = children.filter((c) => c.entry.isDirectory());
    const ahead = new Map<string, DirReads>();
    let next = 0; // the next subdirectory whose reads are not started
    let current = 0; // the subdirectory's place among them
    const files: (TreeNode | Promise<TreeNode | null>)[] = [];
    const dirs: Promise<TreeNode | null>[] = [];
    for (const child of children) {
      const parentNode = parentNodes?.get(child.entry.name) ?? null;
      if (child.entry.isDirectory()) {
        for (; next < subdirs.length && next < current + DIR_LOOKAHEAD; next++) {
          const d = subdirs[next];
          const prior = parentNodes?.get(d.entry.name);
          ahead.set(d.abs, this.startReads(d.abs, prior?.type === 'dir' ? prior : null));
        }
        current++;
        const childReads = ahead.get(child.abs);
        ahead.delete(child.abs);
        const node = this.guard(child.abs, () => this.archiveEntry(child.abs, child.entry.name, child.rel, parentNode, childReads));
        // A few directories at once in the whole walk (bounded memory), so the next one's files are
        // read while the last of this one's are sealed; beyond that, one after another.
        if (this.dirsInFlight < DIRS_IN_FLIGHT) {
          this.dirsInFlight++;
          dirs.push(awaitedLater(node.finally(() => this.dirsInFlight--)));
        } else {
          dirs.push(Promise.resolve(await node));
        }
      } else if (child.entry.isFile() || child.entry.isSymbolicLink()) {
        // A file that was one in the parent is stat'ed here, once: unchanged, its node is taken at once; otherwise the async path takes the stat.
        const prior = parentNode?.type === 'file' && child.entry.isFile() ? parentNode : null;
        const st = prior ? lstatOrUndefined(child.abs) : undefined;
        const same = prior && st?.isFile() ? this.unchangedFileSync(st, child.entry.name, prior) : null;
        files.push(same ?? awaitedLater(this.guard(child.abs, () => this.archiveEntry(child.abs, child.entry.name, child.rel, parentNode, undefined, st))));
      } else {
        this.progress.warnings.push(`skipped ${child.abs}: not a regular file, directory or symlink`);
      }
    }
    const nodes = [...(await Promise.all(dirs)), ...(await Promise.all(files))].filter((n): n is TreeNode => n !== null);
    this.progress.dirs++;
    // Every entry is its parent's very node (see sameAs): this tree is the parent's, byte for byte, so it is neither serialized nor hashed again.
    const unchanged = parent !== null && parentNodes !== null && nodes.length === parentNodes.size && nodes.every((n) => parentNodes.get(n.name) === n) && this.repo.index.has(parent.subtree);
    const tree: Tree = { nodes };
    return sameAs({ name, type: 'dir', ...meta(st), subtree: unchanged ? parent.subtree : await saveTree(this.repo, tree) }, parent);
  }

  /**
   * A file that vanished mid-backup is skipped with a warning; any other
   * error reading it fails the backup, named. Engine errors (storage) pass
   * through as they are.
   */
  private async guard(abs: string, fn: () => Promise<TreeNode>): Promise<TreeNode | null> {
    try {
      return await fn();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.progress.warnings.push(`skipped ${abs}: it vanished during the backup`);
        return null;
      }
      this.failure ??= err instanceof BackupError ? err : new BackupError(`cannot read ${abs} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      throw this.failure;
    }
  }

  private async symlinkNode(abs: string, name: string, st: BigIntStats, parent: SymlinkNode | null): Promise<SymlinkNode> {
    const target = await fs.readlink(abs);
    this.progress.files++;
    return sameAs({ name, type: 'symlink', ...meta(st), target }, parent);
  }

  private async archiveFile(abs: string, name: string, st: BigIntStats, parent: FileNode | null): Promise<FileNode> {
    const base = fileBase(name, st);
    checkLimits(this.progress); // also between unchanged files, which read nothing
    this.progress.files++;
    const size = Number(st.size);
    const same = this.unchangedFile(base, size, parent);
    if (same) return same;
    const stored = (size < this.repo.chunker.min ? await this.storeSmall(abs, size) : null) ?? (await this.storeLarge(abs));
    this.progress.totalSize += stored.size;
    return { ...base, size: stored.size, content: stored.content };
  }

  /** The parent's node, counted, when the file is unchanged: size, mtime, ctime and inode alike, and its blobs still indexed. */
  private unchangedFile(base: FileBase, size: number, parent: FileNode | null): FileNode | null {
    if (
      !parent ||
      parent.size !== size ||
      parent.mtimeNs !== base.mtimeNs ||
      parent.ctimeNs !== base.ctimeNs ||
      parent.inode !== base.inode ||
      !parent.content.every((id) => this.repo.index.has(id))
    ) {
      return null;
    }
    this.progress.filesUnchanged++;
    this.progress.totalSize += size;
    return sameAs({ ...base, size, content: parent.content }, parent);
  }

  /**
   * archiveEntry for a file that turns out unchanged, without its async
   * frames and promises (an unchanged tree of small files is mostly these:
   * ~10 % of its time); null when it is not one, or on any error, which the
   * async path then meets and reports.
   */
  private unchangedFileSync(st: BigIntStats, name: string, parent: FileNode): FileNode | null {
    if (this.failure ?? this.saves.failed) return null;
    try {
      checkLimits(this.progress);
    } catch {
      return null;
    }
    const same = this.unchangedFile(fileBase(name, st), Number(st.size), parent);
    if (same) this.progress.files++;
    return same;
  }

  /** A file below the minimum chunk size is one chunk, sealed whole (see Sealer). Null if it grew meanwhile. */
  private async storeSmall(abs: string, size: number): Promise<{ content: string[]; size: number } | null> {
    const small = await this.sealer.seal(abs, size);
    if (small.kind === 'grew') return null;
    if (small.kind === 'empty') return { content: [], size: 0 };
    this.progress.bytesRead += small.rawLength;
    checkLimits(this.progress);
    await this.repo.saveSealedBlob('data', small.id, small.sealed, small.rawLength);
    return { content: [small.id], size: small.rawLength };
  }

  private async storeLarge(abs: string): Promise<{ content: string[]; size: number }> {
    const release = await this.slots.acquire();
    const work = this.buffers.pop() ?? this.repo.chunker.workBuffer();
    try {
      const handle = await fs.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      try {
        return await storeContent(this.repo, fileSource(handle), work, this.progress, { sealer: this.sealer, saves: this.saves });
      } finally {
        await handle.close();
      }
    } finally {
      this.buffers.push(work);
      release();
    }
  }
}

/**
 * The parent snapshot's node itself when `node` says exactly what it says (same
 * fields, same values): a directory whose entries are all their parents'
 * nodes can then reuse the parent's tree without writing it out again.
 */
function sameAs<T extends TreeNode>(node: T, parent: TreeNode | null): T {
  if (!parent) return node;
  const keys = Object.keys(node) as (keyof T)[];
  if (keys.length !== Object.keys(parent).length) return node;
  for (const k of keys) {
    const a = node[k];
    const b = (parent as T)[k];
    if (a === b) continue;
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length || a.some((x, i) => x !== b[i])) return node;
  }
  return parent as T;
}

function meta(st: BigIntStats): { mode: number; uid: number; gid: number; mtimeNs: string } {
  return { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() };
}

/** Undefined on any error: the async path stats again and reports it (a file gone is a warning, not a failure). */
function lstatOrUndefined(abs: string): BigIntStats | undefined {
  try {
    return lstatSync(abs, { bigint: true });
  } catch {
    return undefined;
  }
}

type FileBase = ReturnType<typeof fileBase>;

/** A file's node but for its size and content. */
function fileBase(name: string, st: BigIntStats) {
  return { name, type: 'file' as const, ...meta(st), ctimeNs: st.ctimeNs.toString(), inode: st.ino.toString() };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
