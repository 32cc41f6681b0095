import { createHash } from 'node:crypto';
import { close, mkdirSync, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Encoded } from '../compression';
import { open, seal, sealToParts, type Keyring } from '../crypto/keyring';
import type { BufferPool } from '../bufferPool';
import { CorruptionError } from '../errors';
import { MAX_BLOB_BYTES } from './layout';
import { spoolFileName } from '../storage/spool';
import { descriptor, writeAll } from '../storage/writeAll';

/**
 * A pack is many sealed blobs in one object, so S3 sees few large objects:
 *
 *   blob 1 | blob 2 | … | sealed header | header length (u32 LE)
 *
 * The header lists each blob's type, id, sealed length and plain length in
 * order; offsets follow from the lengths. The pack's id is the SHA-256 of the
 * whole object, so a reader can verify a pack without any key.
 */
export type BlobType = 'data' | 'tree';

export interface PackEntry {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

const ENTRY_BYTES = 1 + 32 + 4 + 4;
const HEADER_AAD = 'dbm-pack-header';
const TYPE_CODES: Record<BlobType, number> = { data: 0, tree: 1 };

/**
 * Small sealed blobs are copied into 1 MiB segments instead of being written
 * as the cipher's pieces: a pack of 16 MiB of small files is otherwise ~40,000
 * tiny buffers, and their allocations (and the allocator's fragmentation) were
 * the largest part of peak memory on a tree of 100,000 small files.
 */
export const SEGMENT_BYTES = 1024 * 1024;
const COPY_BELOW = 64 * 1024;
/** Bytes a pack may hold waiting for its file before `drained` makes adders wait. */
const QUEUE_BYTES = 4 * 1024 * 1024;

export interface FinishedPack {
  id: string;
  /** the pack's bytes, in a spool file for `Storage.putFile` */
  file: string;
  size: number;
  entries: PackEntry[];
}

/**
 * A pack being written: its blobs go to a spool file as they come (restic
 * spools packs the same way), so memory holds only what waits for the disk,
 * not whole packs. In a local repository the file is already where the pack
 * goes; storing it is a rename. The file is made on the first blob.
 */
export class PackWriter {
  readonly entries: PackEntry[] = [];
  size = 0;
  private readonly hash = createHash('sha256');
  private file: string | null = null;
  private fd: number | null = null;
  /** buffers for the file in order; an `{ after }` runs once every byte before it is written (a segment back to its pool) */
  private queue: (Buffer | { after: () => void })[] = [];
  private queued = 0;
  private pumping: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  private failure: unknown = null;
  private segment: Buffer | null = null;
  private segmentStart = 0;
  private segmentUsed = 0;

  constructor(
    private readonly spoolDir: string,
    private readonly pool?: BufferPool,
  ) {}

  get count(): number {
    return this.entries.length;
  }

  /**
   * Appends a sealed blob. `release` runs once its pieces are no longer
   * needed: copied, or written to the file (a buffer freed, or back to its pool).
   */
  add(type: BlobType, id: string, sealed: Buffer | Buffer[], rawLength: number, release?: () => void): void {
    if (this.failure) throw this.failure;
    const pieces = Buffer.isBuffer(sealed) ? [sealed] : sealed;
    const length = pieces.reduce((n, p) => n + p.length, 0);
    this.entries.push({ id, type, offset: this.size, length, rawLength });
    this.size += length;
    for (const p of pieces) this.hash.update(p);
    if (length < COPY_BELOW) {
      if (!this.segment || this.segmentUsed + length > this.segment.length) this.newSegment();
      for (const p of pieces) this.segmentUsed += p.copy(this.segment!, this.segmentUsed);
      release?.();
      return;
    }
    this.closeSegment();
    for (const p of pieces) if (p.length > 0) this.enqueue(p);
    if (release) this.queue.push({ after: release });
  }

  /** Resolves once what waits for the file is below the bound (at once if it is); throws the file's write error. */
  async drained(): Promise<void> {
    while (this.queued > QUEUE_BYTES && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Writes the header, closes the file and names the pack by its hash. */
  async finish(ring: Keyring): Promise<FinishedPack> {
    this.retireSegment();
    const sealedHeader = seal(ring, encodeHeader(this.entries), HEADER_AAD);
    const trailer = Buffer.allocUnsafe(4);
    trailer.writeUInt32LE(sealedHeader.length, 0);
    this.hash.update(sealedHeader).update(trailer);
    this.enqueue(sealedHeader);
    this.enqueue(trailer);
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
    await this.close();
    return { id: this.hash.digest('hex'), file: this.file!, size: this.size + sealedHeader.length + 4, entries: this.entries };
  }

  /** Stops writing and removes the spool file (a pack that will not be stored). */
  async discard(): Promise<void> {
    this.failure ??= new Error('pack discarded');
    this.queue = [];
    while (this.pumping) await this.pumping;
    await this.close().catch(() => undefined);
    if (this.file) await fs.rm(this.file, { force: true }).catch(() => undefined);
  }

  /** The filled part of the current segment goes to the file; later blobs continue after it. */
  private closeSegment(): void {
    if (this.segment && this.segmentUsed > this.segmentStart) this.enqueue(this.segment.subarray(this.segmentStart, this.segmentUsed));
    this.segmentStart = this.segmentUsed;
  }

  /** The current segment is done with: back to the pool once its bytes are written. */
  private retireSegment(): void {
    this.closeSegment();
    const segment = this.segment;
    if (segment) this.queue.push({ after: () => this.pool?.give(segment) });
    this.segment = null;
  }

  private newSegment(): void {
    this.retireSegment();
    this.segment = this.pool ? this.pool.take(SEGMENT_BYTES) : Buffer.allocUnsafeSlow(SEGMENT_BYTES);
    this.segmentStart = this.segmentUsed = 0;
  }

  private enqueue(buf: Buffer): void {
    if (this.failure) return;
    if (this.fd === null) {
      // opened synchronously, once per pack: a directory that cannot take it fails the add that needed it
      mkdirSync(this.spoolDir, { recursive: true });
      this.file = path.join(this.spoolDir, spoolFileName());
      this.fd = openSync(this.file, 'wx', 0o600);
    }
    this.queue.push(buf);
    this.queued += buf.length;
    this.pumping ??= this.pump();
  }

  /** One writer per file, in order: the queue's buffers in batches, each `after` behind the bytes before it. */
  private async pump(): Promise<void> {
    try {
      const out = descriptor(this.fd!);
      while (this.queue.length > 0) {
        const batch: Buffer[] = [];
        while (this.queue.length > 0 && batch.length < 512) {
          const item = this.queue[0];
          if (Buffer.isBuffer(item)) batch.push(item);
          else if (batch.length === 0) item.after();
          else break;
          this.queue.shift();
        }
        if (batch.length === 0) continue;
        await writeAll(out, batch);
        this.queued -= batch.reduce((n, b) => n + b.length, 0);
        if (this.queued <= QUEUE_BYTES) this.wake();
      }
    } catch (err) {
      this.failure ??= err;
      this.queue = [];
      this.queued = 0;
      this.wake();
    } finally {
      this.pumping = null;
    }
  }

  private async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) await promisify(close)(fd);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** A blob's stored form: its encoding byte and payload, sealed and bound to its id. */
export function sealBlob(ring: Keyring, id: string, encoded: Encoded): Buffer[] {
  return sealToParts(ring, [Buffer.from([encoded.mode]), encoded.data], Buffer.from(id, 'hex'));
}

/** The largest piece of a sealed blob: the cipher's output for its payload, a buffer nothing else refers to. */
export function sealedBody(pieces: Buffer[]): Buffer {
  let body = pieces[0];
  for (const p of pieces) if (p.length > body.length) body = p;
  return body;
}

function encodeHeader(entries: PackEntry[]): Buffer {
  const out = Buffer.allocUnsafe(entries.length * ENTRY_BYTES);
  let pos = 0;
  for (const e of entries) {
    out[pos] = TYPE_CODES[e.type];
    Buffer.from(e.id, 'hex').copy(out, pos + 1);
    out.writeUInt32LE(e.length, pos + 33);
    out.writeUInt32LE(e.rawLength, pos + 37);
    pos += ENTRY_BYTES;
  }
  return out;
}

/** Reads the blob list of a whole pack held in memory (check --read-data, prune). */
export function parsePack(ring: Keyring, pack: Buffer, packId: string): PackEntry[] {
  const what = `pack ${packId.slice(0, 12)}`;
  if (pack.length < 4) throw new CorruptionError(`${what} is truncated`);
  const headerLength = pack.readUInt32LE(pack.length - 4);
  if (headerLength + 4 > pack.length) throw new CorruptionError(`${what} has a header length beyond its size`);
  const headerStart = pack.length - 4 - headerLength;
  const header = open(ring, pack.subarray(headerStart, pack.length - 4), HEADER_AAD, `${what} header`);
  return decodeHeader(header, headerStart, what);
}

export function decodeHeader(header: Buffer, dataEnd: number, what: string): PackEntry[] {
  if (header.length % ENTRY_BYTES !== 0) throw new CorruptionError(`${what} header has a partial entry`);
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let pos = 0; pos < header.length; pos += ENTRY_BYTES) {
    const code = header[pos];
    const type: BlobType | undefined = code === 0 ? 'data' : code === 1 ? 'tree' : undefined;
    if (!type) throw new CorruptionError(`${what} header has unknown blob type ${code}`);
    const length = header.readUInt32LE(pos + 33);
    const rawLength = header.readUInt32LE(pos + 37);
    if (length > MAX_BLOB_BYTES || rawLength > MAX_BLOB_BYTES) throw new CorruptionError(`${what} header lists a blob of impossible size`);
    entries.push({
      id: header.subarray(pos + 1, pos + 33).toString('hex'),
      type,
      offset,
      length,
      rawLength,
    });
    offset += length;
  }
  if (offset !== dataEnd) throw new CorruptionError(`${what} header does not match its blobs`);
  return entries;
}

export function packHash(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
