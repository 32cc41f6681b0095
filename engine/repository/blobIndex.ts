import type { BlobType, PackEntry } from './pack';
import { CorruptionError } from '../errors';
import { HEX64, MAX_BLOB_BYTES } from './layout';

/** Where one blob is stored. */
export interface BlobLocation {
  pack: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

/** What an index object holds: the contents of some packs. */
export interface IndexFile {
  version: 1;
  packs: { id: string; size: number; blobs: PackEntry[] }[];
}

/**
 * The in-memory union of every index object: blob id → location. A blob in
 * several packs (two backups racing) resolves to the first; prune drops the
 * spare copies.
 */
export class BlobIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  /** pack id → its entries and size, for check and prune */
  readonly packs = new Map<string, { size: number; blobs: PackEntry[] }>();

  addPack(pack: string, size: number, entries: PackEntry[]): void {
    if (this.packs.has(pack)) return;
    this.packs.set(pack, { size, blobs: entries });
    for (const e of entries) {
      if (!this.blobs.has(e.id)) {
        this.blobs.set(e.id, { pack, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength });
      }
    }
  }

  addFile(file: IndexFile): void {
    for (const p of file.packs) this.addPack(p.id, p.size, p.blobs);
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  get(id: string): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  get blobCount(): number {
    return this.blobs.size;
  }
}

/** Checks the shape of a decoded index object before trusting it. */
export function validateIndexFile(value: unknown, what: string): IndexFile {
  const file = value as IndexFile;
  if (!isObject(file) || file.version !== 1 || !Array.isArray(file.packs)) throw new CorruptionError(`${what} has an unknown shape`);
  for (const p of file.packs as unknown[]) {
    if (!isObject(p) || typeof p.id !== 'string' || !HEX64.test(p.id) || !Array.isArray(p.blobs) || !size(p.size, Number.MAX_SAFE_INTEGER)) {
      throw new CorruptionError(`${what} lists a malformed pack`);
    }
    for (const b of p.blobs as unknown[]) {
      const ok =
        isObject(b) && typeof b.id === 'string' && HEX64.test(b.id) && (b.type === 'data' || b.type === 'tree') &&
        size(b.offset, Number.MAX_SAFE_INTEGER) && size(b.length, MAX_BLOB_BYTES) && size(b.rawLength, MAX_BLOB_BYTES);
      if (!ok) throw new CorruptionError(`${what} lists a malformed blob in pack ${p.id.slice(0, 12)}`);
    }
  }
  return file;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A byte count or offset: a whole number from 0 to max (never sizes an allocation past it). */
function size(v: unknown, max: number): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
}
