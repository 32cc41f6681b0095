import { closeSync, constants as fsc, existsSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { compressScratch, compressSync } from './compression';
import { blobId, sealInto, type Keyring } from './crypto/keyring';
import { BackupError } from './errors';
import { sealBlob } from './repository/pack';
import { startSpareWorkers, takeWorker, type WorkerSettings } from './spareWorkers';

/**
 * Compressing and sealing is most of a backup's CPU time, and the sealer
 * takes it off the event loop, onto worker threads, so a backup uses every
 * core. Two kinds of work:
 *
 * - Small files (below the minimum chunk size) are one blob each, and a tree
 *   of many of them spends its time per file: read, hash, compress, seal
 *   (~70 µs for a 4 KiB file here, most of it zstd). They go in batches, and
 *   the main thread seals some too while the workers are busy.
 * - Chunks of larger files and streams, which the main thread has read and
 *   hashed: each is handed over (its memory transferred, not copied) and
 *   comes back sealed, in that same memory. The worker compresses into a
 *   buffer it keeps and encrypts into the chunk's memory (sealInto), so a
 *   chunk costs no allocation of its size: a backup's memory is the chunks
 *   in flight, not what V8 or the C allocator has yet to give back.
 *
 * Sealing needs the repository's keys, which the workers receive; they hold
 * no other state.
 */
export type SmallFile =
  /** it grew past the small-file size since it was listed: chunk it instead */
  | { kind: 'grew' }
  | { kind: 'empty' }
  | { kind: 'blob'; id: string; rawLength: number; sealed: Buffer };

/** A chunk sealed: its pieces in order, the large one a view of `memory`. */
export interface SealedChunk {
  pieces: Buffer[];
  /** the chunk's memory handed back (as long as the chunk was), now holding the sealed body: reuse it once the pieces are written */
  memory: Buffer;
}

export interface SealSettings {
  ring: Keyring;
  level: number;
  /** files of this many bytes or more are not small */
  maxBytes: number;
}

/** Reads, hashes, compresses and seals one small file, on the calling thread. */
export function sealSmallFile(abs: string, settings: SealSettings, buffer: Buffer): SmallFile {
  const n = readSmallFile(abs, buffer.subarray(0, settings.maxBytes));
  if (n < 0) return { kind: 'grew' };
  if (n === 0) return { kind: 'empty' };
  const data = buffer.subarray(0, n);
  const id = blobId(settings.ring, data);
  const parts = sealBlob(settings.ring, id, compressSync(data, settings.level));
  return { kind: 'blob', id, rawLength: n, sealed: parts.length === 1 ? parts[0] : Buffer.concat(parts) };
}

/**
 * Compresses and seals a chunk whose id the caller computed, on the calling
 * thread (its compression context and output buffer are kept for the next
 * chunk). The sealed body is written over the chunk itself: the sealed
 * pieces in order, the middle one a view of the start of `chunk`, whose
 * content is gone.
 */
export function sealChunk(id: string, chunk: Buffer, settings: SealSettings): Buffer[] {
  const encoded = compressScratch(chunk, settings.level);
  const body = chunk.subarray(0, encoded.data.length);
  const { before, after } = sealInto(settings.ring, encoded.mode, encoded.data, body, Buffer.from(id, 'hex'));
  return [before, body, after];
}

/**
 * Reads a file below the minimum chunk size whole, with synchronous calls:
 * it is one chunk anyway, and three short syscalls cost less than three
 * thread-pool round trips. -1 when it does not fit `into` (it grew).
 */
function readSmallFile(abs: string, into: Buffer): number {
  const fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    let total = 0;
    for (;;) {
      const n = readSync(fd, into, total, into.length - total, null);
      if (n === 0) return total;
      total += n;
      if (total === into.length) return -1;
    }
  } finally {
    closeSync(fd);
  }
}

/** What travels between the threads: the settings first, then work. */
export type SealRequest =
  | { kind: 'settings'; idKey: Uint8Array; epochs: { epoch: number; key: Uint8Array; created: string }[]; level: number; maxBytes: number }
  | { kind: 'files'; paths: string[] }
  /** the chunk is `length` bytes at the start of `memory`, which is transferred */
  | { kind: 'chunk'; id: string; memory: ArrayBuffer; length: number };

export type SealResult =
  | {
      kind: 'files';
      /** per path: a result with its sealed bytes at [offset, offset+length) of `data`, or the error's code and message */
      results: ({ kind: 'grew' | 'empty' } | { kind: 'blob'; id: string; rawLength: number; offset: number; length: number } | { kind: 'error'; code?: string; message: string })[];
      data: ArrayBuffer;
    }
  | {
      kind: 'chunk';
      /** the chunk's memory, handed back with the sealed body at its start */
      memory: ArrayBuffer;
      bodyLength: number;
      /** the sealed pieces before and after the body */
      before: Uint8Array;
      after: Uint8Array;
    }
  | { kind: 'chunk-error'; memory: ArrayBuffer; message: string };

const WORKER_SCRIPT = path.join(__dirname, 'sealer.worker.js');
/** Files per message: one postMessage per file would cost more than sealing it. */
const BATCH_FILES = 32;
/** …and at most this many bytes, so a batch of larger "small" files stays small. */
const BATCH_BYTES = 1024 * 1024;
/** Batches of files a worker holds at once: one sealing, one waiting, so it never idles on a round trip (chunks: see pump). */
const BATCHES_PER_WORKER = 2;

type Job =
  | { kind: 'file'; abs: string; size: number; resolve(result: SmallFile): void; reject(err: unknown): void }
  /** `length`: the chunk's, kept here because sending it to a worker empties `chunk` */
  | { kind: 'chunk'; id: string; chunk: Buffer; length: number; resolve(result: SealedChunk): void; reject(err: unknown): void };

interface Slot {
  worker: Worker;
  inFlight: Job[][];
  dead: boolean;
}

/** Workers by default: one per core beyond the main thread's, at most four (the main thread seals as well). */
export function defaultSealWorkers(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

function sealWorkerSettings(script = WORKER_SCRIPT): WorkerSettings {
  // A small young generation: the worker's garbage is one job at a time (1 MiB and 4 seal as fast).
  return { script, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 } };
}

/**
 * Boots the default number of sealing workers now, for the next Sealer (see
 * spareWorkers): a command that will seal calls this before it opens the
 * repository.
 */
export function prestartSealWorkers(): void {
  if (existsSync(WORKER_SCRIPT)) startSpareWorkers(sealWorkerSettings(), defaultSealWorkers());
}

export class Sealer {
  private readonly queue: Job[] = [];
  private readonly slots: Slot[] = [];
  private readonly buffer: Buffer;
  private pumping = false;
  private closed = false;
  /** workers not started yet */
  private toStart: number;
  private readonly script: string;

  /**
   * `workers` 0 seals everything on the calling thread; so does a run without
   * the compiled worker script (the TypeScript sources under test).
   */
  constructor(
    private readonly settings: SealSettings,
    { workers = defaultSealWorkers(), script = WORKER_SCRIPT }: { workers?: number; script?: string } = {},
  ) {
    this.buffer = Buffer.allocUnsafe(settings.maxBytes);
    this.toStart = existsSync(script) ? workers : 0;
    this.script = script;
  }

  /** Workers alive (started with the first job: a backup of an unchanged tree seals nothing). */
  get workers(): number {
    return this.toStart + this.slots.filter((s) => !s.dead).length;
  }

  /** Seal the file at `abs` (`size` bytes when listed). Errors are the file system's (ENOENT, ELOOP, …). */
  seal(abs: string, size: number): Promise<SmallFile> {
    if (this.closed) return Promise.reject(new BackupError('the backup stopped before this file was read'));
    this.startWorkers();
    if (this.workers === 0) {
      try {
        return Promise.resolve(sealSmallFile(abs, this.settings, this.buffer));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'file', abs, size, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Compress and seal a chunk (blob `id`) on a worker. The chunk's memory
   * goes to the worker meanwhile: do not touch `chunk` until it comes back as
   * `result.chunk`. Null when there is no worker: seal it some other way.
   * If its worker dies, the chunk is lost with it and this rejects.
   */
  sealChunk(id: string, chunk: Buffer): Promise<SealedChunk> | null {
    if (this.closed) return Promise.reject(new BackupError('the backup stopped before this chunk was sealed'));
    this.startWorkers();
    if (this.workers === 0) return null;
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'chunk', id, chunk, length: chunk.length, resolve, reject });
      this.schedule();
    });
  }

  /** Stops the workers; jobs still queued fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.toStart = 0;
    const slots = this.slots.splice(0);
    for (const job of this.queue.splice(0)) job.reject(new BackupError('the backup stopped before this was sealed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private startWorkers(): void {
    for (; this.toStart > 0; this.toStart--) this.slots.push(this.startWorker(this.script));
  }

  private schedule(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.pump();
    });
  }

  /**
   * Hands jobs to workers: chunks to the least busy at once (the caller
   * bounds how many are in flight; a worker with the next ones in hand never
   * idles on a round trip while the main thread reads), batches of files to
   * one with room. When every worker is full and files still wait, the main
   * thread seals one itself, then yields (so answers and the reading go on)
   * and comes back. Chunks wait for a worker (the main thread has the reading
   * and hashing to do), unless none is left.
   */
  private pump(): void {
    for (let job = this.queue[0]; job; job = this.queue[0]) {
      const slot = this.leastBusy();
      if (!slot || (job.kind === 'file' && slot.inFlight.length >= BATCHES_PER_WORKER)) break;
      this.send(slot);
    }
    const at = this.leastBusy() ? this.queue.findIndex((j) => j.kind === 'file') : 0;
    if (at < 0 || this.queue.length === 0) return;
    const [job] = this.queue.splice(at, 1);
    try {
      if (job.kind === 'file') job.resolve(sealSmallFile(job.abs, this.settings, this.buffer));
      else job.resolve({ pieces: sealChunk(job.id, job.chunk, this.settings), memory: job.chunk });
    } catch (err) {
      job.reject(err);
    }
    if (this.queue.length > 0) this.schedule();
  }

  private leastBusy(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.slots) if (!slot.dead && (!best || slot.inFlight.length < best.inFlight.length)) best = slot;
    return best;
  }

  /** A chunk alone, or a batch of files up to the next chunk. */
  private send(slot: Slot): void {
    const batch: Job[] = [this.queue.shift()!];
    const first = batch[0];
    if (first.kind === 'file') {
      let bytes = first.size;
      for (let next = this.queue[0]; next?.kind === 'file' && batch.length < BATCH_FILES && bytes + next.size <= BATCH_BYTES; next = this.queue[0]) {
        bytes += next.size;
        batch.push(this.queue.shift()!);
      }
    }
    if (slot.inFlight.length === 0) slot.worker.ref(); // a worker with work in hand keeps the process alive
    slot.inFlight.push(batch);
    if (first.kind === 'chunk') {
      const memory = ownMemory(first.chunk);
      slot.worker.postMessage({ kind: 'chunk', id: first.id, memory, length: first.length } satisfies SealRequest, [memory]);
    } else {
      slot.worker.postMessage({ kind: 'files', paths: batch.map((j) => (j as { abs: string }).abs) } satisfies SealRequest);
    }
  }

  private startWorker(script: string): Slot {
    const { ring, level, maxBytes } = this.settings;
    const worker = takeWorker(sealWorkerSettings(script));
    worker.postMessage({ kind: 'settings', idKey: ring.idKey, epochs: ring.epochs, level, maxBytes } satisfies SealRequest);
    const slot: Slot = { worker, inFlight: [], dead: false };
    worker.on('message', (msg: SealResult) => {
      const batch = slot.inFlight.shift();
      if (!batch) return;
      if (slot.inFlight.length === 0) worker.unref();
      settle(batch, msg);
      this.pump();
    });
    const fail = (reason: string): void => {
      if (slot.dead) return;
      slot.dead = true;
      // Its files go back to the queue: the other workers or the main thread seal them. A chunk went with it.
      for (const batch of slot.inFlight.splice(0).reverse()) {
        for (const job of batch) if (job.kind === 'chunk') job.reject(new BackupError(`a sealing worker stopped (${reason}) with a chunk in hand`));
        this.queue.unshift(...batch.filter((job) => job.kind === 'file'));
      }
      if (this.queue.length > 0) this.schedule();
      if (!this.closed) process.emitWarning(`a sealing worker stopped (${reason}); continuing without it`);
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return slot;
  }
}

/** A worker's answer to the jobs it was sent. */
function settle(batch: Job[], msg: SealResult): void {
  if (msg.kind === 'files') {
    const data = Buffer.from(msg.data);
    batch.forEach((job, i) => {
      if (job.kind !== 'file') return;
      const r = msg.results[i];
      if (r.kind === 'error') job.reject(Object.assign(new Error(r.message), r.code ? { code: r.code } : {}));
      else if (r.kind === 'blob') job.resolve({ kind: 'blob', id: r.id, rawLength: r.rawLength, sealed: data.subarray(r.offset, r.offset + r.length) });
      else job.resolve({ kind: r.kind });
    });
    return;
  }
  const job = batch[0];
  if (job.kind !== 'chunk') return;
  if (msg.kind === 'chunk-error') {
    job.reject(new BackupError(`sealing a chunk failed: ${msg.message}`));
    return;
  }
  const memory = Buffer.from(msg.memory, 0, job.length);
  job.resolve({ pieces: [Buffer.from(msg.before), memory.subarray(0, msg.bodyLength), Buffer.from(msg.after)], memory });
}

/** The ArrayBuffer to transfer a chunk with: the one it starts (the caller hands all of it over, a pooled buffer), or a copy when the chunk starts inside one or it is shared memory. */
function ownMemory(chunk: Buffer): ArrayBuffer {
  if (chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer) return chunk.buffer;
  const copy = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(copy);
  return copy.buffer as ArrayBuffer;
}
