import { existsSync, writeSync } from 'node:fs';
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
 * and finishes the files, so a restore uses two cores as a backup does.
 * The files are opened by the main thread; the worker writes through their
 * descriptors, which every thread of a process shares.
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

/** Writes all of `data` at `position` (a write may be short). */
export function writeFully(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** What travels between the threads: the keys first, then ranges. */
export type WriterRequest =
  | { kind: 'keys'; idKey: Uint8Array; epochs: { epoch: number; key: Uint8Array; created: string }[] }
  | { kind: 'range'; pack: string; memory: ArrayBuffer; length: number; blobs: RangeBlob[] };
export type WriterResult = { kind: 'written'; bytes: number } | { kind: 'error'; corruption: boolean; code?: string; message: string };

const WORKER_SCRIPT = path.join(__dirname, 'restoreWriter.worker.js');
/** Ranges the worker holds at once (two held more memory for no speed: the next batch's files keep this thread busy meanwhile); the restorer reads one more than this at a time, for itself. */
export const RANGES_IN_HAND = 1;

function writerWorkerSettings(script = WORKER_SCRIPT): WorkerSettings {
  return { script, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 } };
}

/** Boots a restore's writing thread now, for the next RestoreWriter (see spareWorkers): before the repository is opened. */
export function prestartRestoreWorker(): void {
  if (defaultSealWorkers() > 0 && existsSync(WORKER_SCRIPT)) startSpareWorkers(writerWorkerSettings(), 1);
}

export class RestoreWriter {
  private worker: Worker | null = null;
  /** ranges sent and not yet answered, in order (at most RANGES_IN_HAND) */
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
    let settle!: { resolve(bytes: number): void; reject(err: unknown): void };
    const done = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    this.jobs.push({ ...settle, done: done.catch(() => undefined) });
    worker.ref(); // a worker with work in hand keeps the process alive
    worker.postMessage({ kind: 'range', pack: job.pack, memory, length, blobs: job.blobs } satisfies WriterRequest, [memory]);
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
