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

/**
 * An index object lists at most about this many blobs (a pack's are never
 * split): a tree of small files fills few packs with many blobs, and one
 * index object for 100,000 of them was ~13 MB of JSON, built, copied,
 * compressed and sealed at once.
 */
const BLOBS_PER_INDEX = 16_384;

/** Whether an index object of this many packs and blobs is full: `maxPacks` packs, or BLOBS_PER_INDEX blobs. */
export function fillsIndex(packs: number, blobs: number, maxPacks: number): boolean {
  return packs >= maxPacks || blobs >= BLOBS_PER_INDEX;
}

/** The packs in groups of whole packs, one index object each (see fillsIndex). */
export function indexGroups<P extends { blobs: unknown[] }>(packs: P[], maxPacks: number): P[][] {
  const groups: P[][] = [];
  let group: P[] = [];
  let blobs = 0;
  for (const pack of packs) {
    group.push(pack);
    blobs += pack.blobs.length;
    if (fillsIndex(group.length, blobs, maxPacks)) {
      groups.push(group);
      group = [];
      blobs = 0;
    }
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** What an index object holds: the contents of some packs. */
export interface IndexFile {
  version: 1;
  packs: { id: string; size: number; blobs: PackEntry[] }[];
}

/** One pack as the index knows it; its blob list is decoded when asked for (check, prune). */
export interface PackInfo {
  size: number;
  readonly blobs: PackEntry[];
}

/*
 * Every pack entry is one fixed-size record in a single buffer:
 *   type u8 | id 32 bytes | offset f64 | length u32 | raw length u32 | pack number u32
 * A blob id maps to its first record through an open-addressing table keyed
 * by the id's leading bytes (ids are keyed hashes, so evenly spread). That is
 * ~60 bytes a blob, against ~250 for a Map of hex strings to objects, and
 * nothing for the garbage collector to trace: on a repository of 100,000
 * small files the index was the largest live part of the heap.
 */
const RECORD = 53;
const ID = 1;
const OFFSET = 33;
const LENGTH = 41;
const RAW = 45;
const PACK = 49;
const TYPES: BlobType[] = ['data', 'tree'];

/**
 * The in-memory union of every index object: blob id → location. A blob in
 * several packs (two backups racing) resolves to the first; prune drops the
 * spare copies.
 */
export class BlobIndex {
  private records = Buffer.allocUnsafeSlow(RECORD * 1024);
  private recordCount = 0;
  private slots = new Int32Array(2048).fill(-1);
  private distinct = 0;
  /** scratch for the id being looked up */
  private readonly key = Buffer.alloc(32);
  private readonly packIds: string[] = [];
  private readonly packSizes: number[] = [];
  private readonly packFirst: number[] = [];
  private readonly packNumbers = new Map<string, number>();
  /** pack id → its size and entries, for check and prune */
  readonly packs: PackTable = new PackTable(this);

  addPack(pack: string, size: number, entries: PackEntry[]): void {
    if (this.packNumbers.has(pack)) return;
    const number = this.packIds.length;
    this.packNumbers.set(pack, number);
    this.packIds.push(pack);
    this.packSizes.push(size);
    this.packFirst.push(this.recordCount);
    this.reserve(this.recordCount + entries.length);
    for (const e of entries) {
      const at = this.recordCount * RECORD;
      this.records[at] = TYPES.indexOf(e.type);
      this.records.write(e.id, at + ID, 32, 'hex');
      this.records.writeDoubleLE(e.offset, at + OFFSET);
      this.records.writeUInt32LE(e.length, at + LENGTH);
      this.records.writeUInt32LE(e.rawLength, at + RAW);
      this.records.writeUInt32LE(number, at + PACK);
      this.insert(this.recordCount++);
    }
  }

  addFile(file: IndexFile): void {
    for (const p of file.packs) this.addPack(p.id, p.size, p.blobs);
  }

  /**
   * Makes room for `more` records at once: loading a large index grew the
   * records buffer and the table a step at a time, copying and rehashing
   * everything at every step.
   */
  expect(more: number): void {
    const records = this.recordCount + more;
    this.reserve(records);
    let size = this.slots.length;
    while (size < records * 2) size *= 2;
    if (size > this.slots.length) this.rehash(size);
  }

  has(id: string): boolean {
    return this.find(id) >= 0;
  }

  get(id: string): BlobLocation | undefined {
    const r = this.find(id);
    if (r < 0) return undefined;
    const at = r * RECORD;
    return {
      pack: this.packIds[this.records.readUInt32LE(at + PACK)],
      type: TYPES[this.records[at]],
      offset: this.records.readDoubleLE(at + OFFSET),
      length: this.records.readUInt32LE(at + LENGTH),
      rawLength: this.records.readUInt32LE(at + RAW),
    };
  }

  get blobCount(): number {
    return this.distinct;
  }

  /** @internal the pack table's view */
  packInfo(pack: string): PackInfo | undefined {
    const number = this.packNumbers.get(pack);
    if (number === undefined) return undefined;
    const first = this.packFirst[number];
    const end = number + 1 < this.packFirst.length ? this.packFirst[number + 1] : this.recordCount;
    const index = this.records;
    return {
      size: this.packSizes[number],
      get blobs(): PackEntry[] {
        const out: PackEntry[] = [];
        for (let r = first; r < end; r++) {
          const at = r * RECORD;
          out.push({
            id: index.toString('hex', at + ID, at + ID + 32),
            type: TYPES[index[at]],
            offset: index.readDoubleLE(at + OFFSET),
            length: index.readUInt32LE(at + LENGTH),
            rawLength: index.readUInt32LE(at + RAW),
          });
        }
        return out;
      },
    };
  }

  /** @internal */
  packList(): readonly string[] {
    return this.packIds;
  }

  /** The first record of id, or -1. */
  private find(id: string): number {
    if (id.length !== 64 || this.key.write(id, 0, 32, 'hex') !== 32) return -1;
    const lead = this.key.readUInt32LE(0);
    const mask = this.slots.length - 1;
    for (let slot = lead & mask; ; slot = (slot + 1) & mask) {
      const r = this.slots[slot];
      if (r < 0) return -1;
      const at = r * RECORD + ID;
      if (this.records.readUInt32LE(at) === lead && this.records.compare(this.key, 0, 32, at, at + 32) === 0) return r;
    }
  }

  /** Makes record r findable by its id, unless an earlier record has that id. */
  private insert(r: number): void {
    if ((this.distinct + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    const at = r * RECORD + ID;
    const lead = this.records.readUInt32LE(at);
    const mask = this.slots.length - 1;
    for (let slot = lead & mask; ; slot = (slot + 1) & mask) {
      const other = this.slots[slot];
      if (other < 0) {
        this.slots[slot] = r;
        this.distinct++;
        return;
      }
      const oat = other * RECORD + ID;
      if (this.records.readUInt32LE(oat) === lead && this.records.compare(this.records, at, at + 32, oat, oat + 32) === 0) return;
    }
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size).fill(-1);
    this.distinct = 0;
    for (let r = 0; r < this.recordCount; r++) this.insert(r);
  }

  private reserve(records: number): void {
    if (records * RECORD <= this.records.length) return;
    let size = this.records.length;
    while (size < records * RECORD) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.records.copy(grown, 0, 0, this.recordCount * RECORD);
    this.records = grown;
  }
}

/** The index's packs, read like a Map (size, has, get, keys, entries). */
export class PackTable {
  constructor(private readonly index: BlobIndex) {}

  get size(): number {
    return this.index.packList().length;
  }

  has(pack: string): boolean {
    return this.index.packInfo(pack) !== undefined;
  }

  get(pack: string): PackInfo | undefined {
    return this.index.packInfo(pack);
  }

  keys(): IterableIterator<string> {
    return this.index.packList()[Symbol.iterator]();
  }

  *[Symbol.iterator](): IterableIterator<[string, PackInfo]> {
    for (const pack of this.index.packList()) yield [pack, this.index.packInfo(pack)!];
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
