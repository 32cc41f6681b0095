import { closeSync, existsSync, fchmodSync, fchownSync, futimesSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { discardBuffer } from './bufferPool';
import { decompressSync } from './compression';
import { blobId, open, type Keyring } from './crypto/keyring';
import { BackupError, CorruptionError } from './errors';
import { defaultSealWorkers } from './sealer';
import { startSpareWorkers, takeWorker, type WorkerSettings } from './spareWorkers';

/**
 * A restore of many small files spends its time per blob, on one thread:
 * decrypt, decompress, check the id, write, a few microseconds each, 100,000
 * times. The writer does that for some of a restore's pack ranges on a
 * worker thread, while the main thread does the same for others and creates
 * the files, so a restore uses two cores as a backup does.
 * The files are opened by the main thread; the worker writes through their
 * descriptors, which every thread of a process shares, and finishes them
 * (owner, mode, mtime, close: four calls a file, a third of the main
 * thread's time when it did them) once a batch is written.
 */
export interface RangeJob {
  pack: string;
  /** the sealed blobs, read from the pack in one range */
  bytes: Buffer;
  blobs: RangeBlob[];
}

export interface RangeBlob {
  id: string;
  /** where the sealed blob lies in `bytes` */
  at: number;
  length: number;
  rawLength: number;
  /** every place its plain bytes go */
  targets: { fd: number; position: number }[];
}

/** Opens each blob of a range, checks it against its id and writes it at its targets, on the calling thread. Returns the bytes written. */
export function writeRangeSync(ring: Keyring, job: RangeJob): number {
  let written = 0;
  for (const blob of job.blobs) {
    const what = `blob ${blob.id.slice(0, 12)} in pack ${job.pack.slice(0, 12)}`;
    const payload = open(ring, job.bytes.subarray(blob.at, blob.at + blob.length), Buffer.from(blob.id, 'hex'), what);
    let data: Buffer;
    try {
      data = decompressSync(payload, what, blob.rawLength);
    } catch (err) {
      throw new CorruptionError((err as Error).message);
    }
    if (data.buffer !== payload.buffer) discardBuffer(payload);
    if (blobId(ring, data) !== blob.id) throw new CorruptionError(`${what} does not match its id`);
    for (const t of blob.targets) {
      writeFully(t.fd, data, t.position);
      written += data.length;
    }
    discardBuffer(data, 1); // written everywhere it goes (1: the payload's mode byte, or a decoder's spare byte)
  }
  return written;
}

/** What a restored file gets once its bytes are written. */
export interface FileFinish {
  fd: number;
  uid: number;
  gid: number;
  mode: number;
  /** mtime, in seconds */
  mtime: number;
}

export const restoringAsRoot = process.getuid?.() === 0;

/**
 * Owner (when restoring as root), mode and mtime through each file's
 * descriptor (no path lookups, nothing can swap the file in between; after
 * the last write, which would move mtime), then closes it. Every descriptor
 * is closed whatever fails; the first failure is thrown.
 */
export function finishFilesSync(files: FileFinish[]): void {
  let failure: unknown = null;
  for (const f of files) {
    try {
      if (restoringAsRoot) {
        try {
          fchownSync(f.fd, f.uid, f.gid);
        } catch {
          // an owner that does not exist here: keep the restoring user
        }
      }
      fchmodSync(f.fd, f.mode & 0o7777);
      futimesSync(f.fd, f.mtime, f.mtime);
    } catch (err) {
      failure ??= err;
    }
    try {
      closeSync(f.fd);
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure) throw failure;
}

/** Writes all of `data` at `position` (a write may be short). */
export function writeFully(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** What travels between the threads: the keys first, then ranges and finishes. */
export type WriterRequest =
  | { kind: 'keys'; idKey: Uint8Array; epochs: { epoch: number; key: Uint8Array; created: string }[] }
  | { kind: 'range'; pack: string; memory: ArrayBuffer; length: number; blobs: RangeBlob[] }
  | { kind: 'finish'; files: FileFinish[] };
export type WriterResult = { kind: 'written'; bytes: number } | { kind: 'finished' } | { kind: 'error'; corruption: boolean; code?: string; message: string };

/** A failure as it crosses to the main thread. */
export function failureResult(err: unknown): WriterResult {
  const e = err as NodeJS.ErrnoException;
  return { kind: 'error', corruption: err instanceof CorruptionError, code: e.code, message: e.message };
}

const WORKER_SCRIPT = path.join(__dirname, 'restoreWriter.worker.js');
/** Ranges the worker holds at once (two held more memory for no speed: the next batch's files keep this thread busy meanwhile); the restorer reads one more than this at a time, for itself. */
export const RANGES_IN_HAND = 1;

function writerWorkerSettings(script = WORKER_SCRIPT): WorkerSettings {
  // It closes the files the main thread opened (finishFilesSync) and opens none: Node's tracking would warn at every close.
  return { script, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 }, trackUnmanagedFds: false };
}

/** Boots a restore's writing thread now, for the next RestoreWriter (see spareWorkers): before the repository is opened. */
export function prestartRestoreWorker(): void {
  if (defaultSealWorkers() > 0 && existsSync(WORKER_SCRIPT)) startSpareWorkers(writerWorkerSettings(), 1);
}

export class RestoreWriter {
  private worker: Worker | null = null;
  /** ranges (at most RANGES_IN_HAND) and finishes sent and not yet answered, in order */
  private readonly jobs: { resolve(bytes: number): void; reject(err: unknown): void; done: Promise<unknown> }[] = [];

  /** `workers` 0, or a run without the compiled worker script (the TypeScript sources under test): every range is written by the caller. */
  constructor(ring: Keyring, { workers = defaultSealWorkers(), script = WORKER_SCRIPT }: { workers?: number; script?: string } = {}) {
    if (workers <= 0 || !existsSync(script)) return;
    const worker = takeWorker(writerWorkerSettings(script));
    worker.postMessage({ kind: 'keys', idKey: ring.idKey, epochs: ring.epochs } satisfies WriterRequest);
    worker.on('message', (msg: WriterResult) => {
      const job = this.jobs.shift();
      if (this.jobs.length === 0) worker.unref();
      if (!job) return;
      if (msg.kind === 'written') job.resolve(msg.bytes);
      else if (msg.kind === 'finished') job.resolve(0);
      else if (msg.corruption) job.reject(new CorruptionError(msg.message));
      else job.reject(Object.assign(new Error(msg.message), msg.code ? { code: msg.code } : {}));
    });
    const fail = (reason: string): void => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const job of this.jobs.splice(0)) job.reject(new BackupError(`the restore's writing thread stopped (${reason}) with a range in hand`));
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.worker = worker;
  }

  /**
   * Writes the range on the worker; null when it has its hands full or
   * there is none (write it on this thread). The range's memory goes to the
   * worker: do not touch `job.bytes` once this returned a promise.
   */
  write(job: RangeJob): Promise<number> | null {
    const worker = this.worker;
    if (!worker || this.jobs.length >= RANGES_IN_HAND) return null;
    let memory = job.bytes.buffer as ArrayBuffer;
    let length = job.bytes.length;
    if (job.bytes.byteOffset !== 0 || !(memory instanceof ArrayBuffer) || memory.byteLength !== length) {
      // a slice of a larger buffer (Node's shared pool): a copy of its own to transfer
      const copy = Buffer.allocUnsafeSlow(length);
      job.bytes.copy(copy);
      memory = copy.buffer as ArrayBuffer;
      length = copy.length;
    }
    return this.send(worker, { kind: 'range', pack: job.pack, memory, length, blobs: job.blobs }, [memory]);
  }

  /**
   * Finishes the files on the worker (finishFilesSync), after every range
   * sent before; null when there is none (finish them on this thread). The
   * descriptors are the worker's to close once this returned a promise, even
   * when it rejects: if the thread died meanwhile, which of them it closed is
   * unknown, and closing one twice could close another file that took its number.
   */
  finish(files: FileFinish[]): Promise<void> | null {
    const worker = this.worker;
    if (!worker) return null;
    return this.send(worker, { kind: 'finish', files }).then(() => undefined);
  }

  /** Hands a request to the worker; resolves with its answer, in order. */
  private send(worker: Worker, request: WriterRequest, transfer: ArrayBuffer[] = []): Promise<number> {
    let settle!: { resolve(bytes: number): void; reject(err: unknown): void };
    const done = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    this.jobs.push({ ...settle, done: done.catch(() => undefined) });
    worker.ref(); // a worker with work in hand keeps the process alive
    worker.postMessage(request, transfer);
    return done;
  }

  /** Once the worker writes no more (before the files it writes to are closed). */
  async settled(): Promise<void> {
    await Promise.all(this.jobs.map((j) => j.done));
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await this.settled();
    await worker?.terminate();
  }
}
