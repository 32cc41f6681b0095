import type { ByteSource, Chunker } from '../../chunker';
import type { ChunkSplitter } from '../../archiver';

/**
 * Page-aware chunking of a base backup's tar (pgBackRest's block incremental,
 * in content-addressed form). A relation file changes a page at a time, all
 * over the file; content-defined chunks of ~1 MiB around scattered changed
 * pages are almost all new. So the data of every relation file is cut into
 * fixed blocks aligned to its pages (each an ordinary blob, deduplicated by
 * content), and everything else — tar headers, small files, WAL — keeps
 * content-defined chunking. The cut points only decide what deduplicates:
 * the stored stream is the tar byte for byte, so restores are unchanged and
 * a tar this does not understand just falls back to content-defined chunks.
 */

/** A PostgreSQL page: the unit a relation file changes by, and the smallest block. */
export const PAGE_SIZE = 8192;

/** Blocks per base backup beyond which blocks grow: the blob index is held in memory (~300 bytes a blob). */
const MAX_BLOCKS = 512 * 1024;

/**
 * The block size for a cluster of this size: single pages while a base
 * backup makes at most MAX_BLOCKS of them (clusters up to 4 GiB), then the
 * next power of two, so a 100 GiB cluster is cut into 256 KiB blocks and
 * the index stays bounded. The previous backup's size is kept while within
 * a factor of two of that, so a cluster near a threshold does not lose its
 * dedup back and forth.
 */
export function pageBlockFor(clusterBytes: number, previous?: unknown): number {
  let block = PAGE_SIZE;
  while (clusterBytes / block > MAX_BLOCKS) block *= 2;
  const prev = typeof previous === 'number' && Number.isInteger(previous) && previous >= PAGE_SIZE && (previous & (previous - 1)) === 0 ? previous : null;
  return prev !== null && prev >= block / 2 && prev <= block * 2 ? prev : block;
}

/** Heap, index, free-space map, visibility map and init forks, and their 1 GiB segments. */
const RELATION_FILE = /^(?:\.\/)?(?:base\/\d+|global)\/\d+(?:_(?:fsm|vm|init))?(?:\.\d+)?$/;

export function isRelationFile(name: string): boolean {
  return RELATION_FILE.test(name);
}

/**
 * A splitter for backupStreams: page-aligned blocks of `blockSize` bytes for
 * relation files of at least `minFileSize` bytes, content-defined chunks around them.
 */
export function pageAlignedTarChunks(blockSize: number, minFileSize = blockSize * 4): ChunkSplitter {
  if (!(blockSize >= 512 && blockSize % 512 === 0)) throw new Error(`page block size ${blockSize} is not a multiple of 512`);
  return async function* (chunker: Chunker, source: ByteSource, work: Buffer): AsyncGenerator<Buffer> {
    const tar = new TarWatcher(source, minFileSize);
    // Blocks outgrow the work buffer (a chunk's size) only for clusters of several TiB: a buffer of their own then.
    const blocks = blockSize <= work.length ? work : Buffer.allocUnsafe(blockSize);
    for (;;) {
      yield* chunker.chunks(tar, work); // up to the next relation file's data, or the end
      if (tar.regionLeft === 0) return;
      while (tar.regionLeft > 0) {
        const want = Math.min(blockSize, tar.regionLeft);
        let got = 0;
        while (got < want) {
          const n = await tar.readRegion(blocks, got, want - got);
          if (n === 0) break;
          got += n;
        }
        if (got > 0) yield blocks.subarray(0, got);
        if (got < want) return; // the stream ended inside a file: the producer failed and says so
      }
    }
  };
}

/**
 * Passes a tar stream through, reading each 512-byte header as it goes by;
 * after the header of a relation file it reports the end of its stream, and
 * the file's data is then read with `readRegion`. Anything unexpected (a bad
 * checksum, an unknown size encoding) stops the watching: the rest is plain bytes.
 */
class TarWatcher implements ByteSource {
  /** bytes of the current relation file's data not yet read */
  regionLeft = 0;
  private pos = 0;
  private nextHeader = 0;
  private watching = true;
  private readonly header = Buffer.alloc(512);

  constructor(
    private readonly source: ByteSource,
    private readonly minFileSize: number,
  ) {}

  async read(into: Buffer, offset: number, length: number): Promise<number> {
    if (this.regionLeft > 0) return 0;
    const cap = this.watching ? Math.min(length, this.nextHeader + 512 - this.pos) : length;
    const n = await this.source.read(into, offset, cap);
    if (this.watching && n > 0) {
      const from = Math.max(this.pos, this.nextHeader);
      const to = this.pos + n;
      if (to > from) into.copy(this.header, from - this.nextHeader, offset + (from - this.pos), offset + n);
      this.pos = to;
      if (this.pos === this.nextHeader + 512) this.parseHeader();
    } else {
      this.pos += n;
    }
    return n;
  }

  async readRegion(into: Buffer, offset: number, length: number): Promise<number> {
    const n = await this.source.read(into, offset, Math.min(length, this.regionLeft));
    this.regionLeft -= n;
    this.pos += n;
    return n;
  }

  private parseHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      this.watching = false; // the end-of-archive blocks
      return;
    }
    const size = tarNumber(h, 124, 12);
    if (size === null || !checksumMatches(h)) {
      this.watching = false;
      return;
    }
    const type = h[156];
    const dataStart = this.pos;
    this.nextHeader = dataStart + Math.ceil(size / 512) * 512;
    if ((type === 0x30 || type === 0) && size >= this.minFileSize && isRelationFile(tarName(h))) this.regionLeft = size;
  }
}

/** ustar name: prefix "/" name, each NUL-terminated unless full. */
function tarName(h: Buffer): string {
  const field = (start: number, len: number) => {
    const end = h.indexOf(0, start);
    return h.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
  };
  const name = field(0, 100);
  const isUstar = h.toString('latin1', 257, 262) === 'ustar';
  const prefix = isUstar ? field(345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** An octal field, or GNU's base-256 for large values; null if neither. */
function tarNumber(h: Buffer, start: number, len: number): number | null {
  if (h[start] & 0x80) {
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i];
    return Number.isSafeInteger(v) ? v : null;
  }
  const text = h.toString('latin1', start, start + len).replace(/[\0 ]+$/, '').trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : text === '' ? 0 : null;
}

function checksumMatches(h: Buffer): boolean {
  const stored = tarNumber(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return stored === sum;
}
