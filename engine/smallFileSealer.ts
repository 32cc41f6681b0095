import { closeSync, constants as fsc, existsSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { compressSync } from './compression';
import { blobId, type Keyring } from './crypto/keyring';
import { BackupError } from './errors';
import { sealBlob } from './repository/pack';

/**
 * Files below the minimum chunk size are one blob each, and a tree of many
 * of them spends its time per file: read, hash, compress, seal (~70 µs for a
 * 4 KiB file here, most of it zstd), all on the event loop. The sealer runs
 * that work on worker threads, and on the main thread too while the workers
 * are busy, so a tree of small files uses every core. Sealing needs the
 * repository's keys, which the workers receive; they hold no other state.
 */
export type SmallFile =
  /** it grew past the small-file size since it was listed: chunk it instead */
  | { kind: 'grew' }
  | { kind: 'empty' }
  | { kind: 'blob'; id: string; rawLength: number; sealed: Buffer };

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

/** What travels between the threads. */
export interface BatchRequest {
  paths: string[];
}
export interface BatchResult {
  /** per path: a result with its sealed bytes at [offset, offset+length) of `data`, or the error's code and message */
  results: ({ kind: 'grew' | 'empty' } | { kind: 'blob'; id: string; rawLength: number; offset: number; length: number } | { kind: 'error'; code?: string; message: string })[];
  data: ArrayBuffer;
}

const WORKER_SCRIPT = path.join(__dirname, 'smallFileSealer.worker.js');
/** Files per message: one postMessage per file would cost more than sealing it. */
const BATCH_FILES = 32;
/** …and at most this many bytes, so a batch of larger "small" files stays small. */
const BATCH_BYTES = 1024 * 1024;
/** Batches a worker holds at once: one sealing, one waiting, so it never idles on a round trip. */
const BATCHES_PER_WORKER = 2;

interface Job {
  abs: string;
  size: number;
  resolve(result: SmallFile): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  inFlight: Job[][];
  dead: boolean;
}

/** Workers by default: one per core beyond the main thread's, at most four (the main thread seals as well). */
export function defaultSealWorkers(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

export class SmallFileSealer {
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

  /** Workers alive (started with the first file: a backup of an unchanged tree seals nothing). */
  get workers(): number {
    return this.toStart + this.slots.filter((s) => !s.dead).length;
  }

  /** Seal the file at `abs` (`size` bytes when listed). Errors are the file system's (ENOENT, ELOOP, …). */
  seal(abs: string, size: number): Promise<SmallFile> {
    if (this.closed) return Promise.reject(new BackupError('the backup stopped before this file was read'));
    for (; this.toStart > 0; this.toStart--) this.slots.push(this.startWorker(this.script));
    if (this.workers === 0) {
      try {
        return Promise.resolve(sealSmallFile(abs, this.settings, this.buffer));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ abs, size, resolve, reject });
      this.schedule();
    });
  }

  /** Stops the workers; files still queued fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.toStart = 0;
    const slots = this.slots.splice(0);
    for (const job of this.queue.splice(0)) job.reject(new BackupError('the backup stopped before this file was read'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
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
   * Hands batches to workers with room; when they are all full and files
   * still wait, the main thread seals one itself, then yields (so answers
   * and the tree walk go on) and comes back.
   */
  private pump(): void {
    for (const slot of this.slots) {
      while (!slot.dead && slot.inFlight.length < BATCHES_PER_WORKER && this.queue.length > 0) this.send(slot);
    }
    const job = this.queue.shift();
    if (!job) return;
    try {
      job.resolve(sealSmallFile(job.abs, this.settings, this.buffer));
    } catch (err) {
      job.reject(err);
    }
    if (this.queue.length > 0) this.schedule();
  }

  private send(slot: Slot): void {
    const batch: Job[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < BATCH_FILES && (batch.length === 0 || bytes + this.queue[0].size <= BATCH_BYTES)) {
      const job = this.queue.shift()!;
      bytes += job.size;
      batch.push(job);
    }
    if (slot.inFlight.length === 0) slot.worker.ref(); // a worker with work in hand keeps the process alive
    slot.inFlight.push(batch);
    slot.worker.postMessage({ paths: batch.map((j) => j.abs) } satisfies BatchRequest);
  }

  private startWorker(script: string): Slot {
    const { ring, level, maxBytes } = this.settings;
    const worker = new Worker(script, {
      workerData: { idKey: ring.idKey, epochs: ring.epochs, level, maxBytes },
      // A small young generation: the worker's garbage is one file at a time.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    const slot: Slot = { worker, inFlight: [], dead: false };
    worker.unref();
    worker.on('message', (msg: BatchResult) => {
      const batch = slot.inFlight.shift();
      if (!batch) return;
      if (slot.inFlight.length === 0) worker.unref();
      const data = Buffer.from(msg.data);
      batch.forEach((job, i) => {
        const r = msg.results[i];
        if (r.kind === 'error') job.reject(Object.assign(new Error(r.message), r.code ? { code: r.code } : {}));
        else if (r.kind === 'blob') job.resolve({ kind: 'blob', id: r.id, rawLength: r.rawLength, sealed: data.subarray(r.offset, r.offset + r.length) });
        else job.resolve({ kind: r.kind });
      });
      this.pump();
    });
    const fail = (reason: string): void => {
      if (slot.dead) return;
      slot.dead = true;
      // Its files go back to the queue: the other workers or the main thread seal them.
      for (const batch of slot.inFlight.splice(0).reverse()) this.queue.unshift(...batch);
      if (this.queue.length > 0) this.schedule();
      if (!this.closed) process.emitWarning(`a small-file sealing worker stopped (${reason}); continuing without it`);
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return slot;
  }
}
