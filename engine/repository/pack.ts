import { createHash } from 'node:crypto';
import type { Encoded } from '../compression';
import { open, seal, sealToParts, type Keyring } from '../crypto/keyring';
import type { BufferPool } from '../bufferPool';
import { CorruptionError } from '../errors';
import { MAX_BLOB_BYTES } from './layout';

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
 * Small sealed blobs are copied into 1 MiB segments instead of being kept as
 * the cipher's pieces: a pack of 16 MiB of small files is otherwise ~40,000
 * tiny buffers, and their allocations (and the allocator's fragmentation) were
 * the largest part of peak memory on a tree of 100,000 small files.
 */
const SEGMENT_BYTES = 1024 * 1024;
const COPY_BELOW = 64 * 1024;

export class PackBuilder {
  private parts: Buffer[] = [];
  readonly entries: PackEntry[] = [];
  /** the segments this pack's parts point into; handed back to the pool once the pack is stored */
  readonly segments: Buffer[] = [];
  private segment: Buffer | null = null;
  private segmentStart = 0;
  private segmentUsed = 0;
  size = 0;

  constructor(private readonly pool?: BufferPool) {}

  add(type: BlobType, id: string, sealed: Buffer | Buffer[], rawLength: number): void {
    const pieces = Buffer.isBuffer(sealed) ? [sealed] : sealed;
    const length = pieces.reduce((n, p) => n + p.length, 0);
    this.entries.push({ id, type, offset: this.size, length, rawLength });
    this.size += length;
    if (length < COPY_BELOW) {
      if (!this.segment || this.segmentUsed + length > this.segment.length) this.newSegment();
      for (const p of pieces) this.segmentUsed += p.copy(this.segment!, this.segmentUsed);
      return;
    }
    this.closeSegment();
    for (const p of pieces) if (p.length > 0) this.parts.push(p);
  }

  get count(): number {
    return this.entries.length;
  }

  /** The filled part of the current segment becomes a part; later blobs continue after it. */
  private closeSegment(): void {
    if (this.segment && this.segmentUsed > this.segmentStart) this.parts.push(this.segment.subarray(this.segmentStart, this.segmentUsed));
    this.segmentStart = this.segmentUsed;
  }

  private newSegment(): void {
    this.closeSegment();
    this.segment = this.pool ? this.pool.take(SEGMENT_BYTES) : Buffer.allocUnsafeSlow(SEGMENT_BYTES);
    this.segments.push(this.segment);
    this.segmentStart = this.segmentUsed = 0;
  }

  /** The pack as its parts (not joined: that would copy 16 MiB), with its id and size. */
  finish(ring: Keyring): { id: string; parts: Buffer[]; size: number; entries: PackEntry[] } {
    this.closeSegment();
    const header = encodeHeader(this.entries);
    const sealedHeader = seal(ring, header, HEADER_AAD);
    const trailer = Buffer.allocUnsafe(4);
    trailer.writeUInt32LE(sealedHeader.length, 0);
    const parts = [...this.parts, sealedHeader, trailer];
    this.parts = [];
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    return { id: hash.digest('hex'), parts, size: this.size + sealedHeader.length + 4, entries: this.entries };
  }
}

/** A blob's stored form: its encoding byte and payload, sealed and bound to its id. */
export function sealBlob(ring: Keyring, id: string, encoded: Encoded): Buffer[] {
  return sealToParts(ring, [Buffer.from([encoded.mode]), encoded.data], Buffer.from(id, 'hex'));
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
