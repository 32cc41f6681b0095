import { createHash } from 'node:crypto';

/**
 * Content-defined chunking, FastCDC style: a gear rolling hash with
 * normalized chunking (a harder mask before the average size, an easier one
 * after), hashing only from `min` on. The gear table comes from a secret
 * per-repository seed, so chunk boundaries do not reveal file contents.
 */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
  /** hex seed for the gear table, from the repository config */
  seed: string;
}

/** restic's sizes: 512 KiB – 8 MiB, about 1 MiB on average. */
export const DEFAULT_CHUNKER = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

/** Where bytes come from: a file descriptor, a stream. Returns 0 at the end. */
export interface ByteSource {
  read(into: Buffer, offset: number, length: number): Promise<number>;
}

export class Chunker {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  private readonly gear: Int32Array;
  private readonly maskHard: number;
  private readonly maskEasy: number;

  constructor(params: ChunkerParams) {
    if (!(params.min > 0 && params.min < params.avg && params.avg < params.max)) {
      throw new Error(`invalid chunker sizes ${params.min}/${params.avg}/${params.max}`);
    }
    this.min = params.min;
    this.avg = params.avg;
    this.max = params.max;
    this.gear = gearTable(params.seed);
    const bits = Math.round(Math.log2(params.avg));
    // Top bits of the 32-bit hash: they depend on the last 32 bytes, the widest window.
    this.maskHard = topBits(Math.min(bits + 2, 31));
    this.maskEasy = topBits(Math.max(bits - 2, 1));
  }

  /**
   * Length of the chunk starting at `start`, with every byte up to `end`
   * known (the input ends there, or runs on past `start + max`).
   */
  cut(buf: Buffer, start: number, end: number): number {
    return this.boundary(buf, start, end, true, { at: 0, h: 0 });
  }

  /**
   * Looks for the end of the chunk starting at `start` in the bytes before
   * `end`; `final`: none come after. Returns the chunk's length, or 0 when
   * the answer lies past `end`; `scan` then holds where the search stopped
   * and the hash there, so it resumes after the next read instead of
   * starting over. The first boundary is the same however the bytes arrive.
   */
  private boundary(buf: Buffer, start: number, end: number, final: boolean, scan: { at: number; h: number }): number {
    const n = end - start;
    if (n <= this.min) return final ? n : 0;
    const limit = start + Math.min(n, this.max);
    const normal = start + Math.min(this.avg, limit - start);
    const from = start + Math.max(this.min, scan.at);
    // The harder mask before the average size, the easier one after (normalized chunking).
    const cut = roll(buf, this.gear, from, normal, this.maskHard, scan);
    if (cut >= 0) return cut - start;
    const late = roll(buf, this.gear, Math.max(from, normal), limit, this.maskEasy, scan);
    if (late >= 0) return late - start;
    if (final || limit - start === this.max) return limit - start;
    scan.at = limit - start;
    return 0;
  }

  /**
   * A work buffer for `chunks`, of the largest chunk's size; reuse it across
   * files. (It holds the chunk being cut and what is read after it, no more:
   * the search for a boundary resumes as bytes come.)
   */
  workBuffer(): Buffer {
    return Buffer.allocUnsafe(this.max);
  }

  /**
   * Splits a source into chunks. Each yielded chunk is a view into `work`,
   * valid only until the next one is requested: copy what you keep.
   */
  async *chunks(source: ByteSource, work: Buffer = this.workBuffer()): AsyncGenerator<Buffer> {
    if (work.length < this.max) throw new Error(`a chunker work buffer needs ${this.max} bytes, not ${work.length}`);
    let start = 0;
    let end = 0;
    let eof = false;
    const scan = { at: 0, h: 0 };
    for (;;) {
      const len = end > start ? this.boundary(work, start, end, eof, scan) : 0;
      if (len > 0) {
        scan.at = 0;
        scan.h = 0;
        yield work.subarray(start, start + len);
        start += len;
        continue;
      }
      if (eof) return;
      // The chunk being cut moves to the front to make room (it is never longer than the buffer).
      if (end === work.length) {
        work.copy(work, 0, start, end);
        end -= start;
        start = 0;
      }
      const n = await source.read(work, end, work.length - end);
      if (n === 0) eof = true;
      else end += n;
    }
  }
}

/**
 * Rolls the gear hash over buf[from, to) from `scan.h`: the index just past
 * the first byte where the hash has no bit of `mask` set, or -1 with the hash
 * at `to` left in `scan.h`. Four bytes a step, each still tested: the same
 * cuts as one at a time, in half the time (V8 checks the loop's bound once a
 * step, not once a byte); with hashing, it is most of what the main thread
 * does with a large file's bytes.
 */
function roll(buf: Buffer, gear: Int32Array, from: number, to: number, mask: number, scan: { h: number }): number {
  let h = scan.h;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & mask) === 0) return i + 1;
    h = ((h << 1) + gear[buf[i + 1]]) | 0;
    if ((h & mask) === 0) return i + 2;
    h = ((h << 1) + gear[buf[i + 2]]) | 0;
    if ((h & mask) === 0) return i + 3;
    h = ((h << 1) + gear[buf[i + 3]]) | 0;
    if ((h & mask) === 0) return i + 4;
  }
  for (; i < to; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & mask) === 0) return i + 1;
  }
  scan.h = h;
  return -1;
}

function topBits(count: number): number {
  return ((0xffffffff << (32 - count)) >>> 0) | 0;
}

function gearTable(seedHex: string): Int32Array {
  const table = new Int32Array(256);
  const seed = Buffer.from(seedHex, 'hex');
  for (let block = 0; block < 32; block++) {
    const digest = createHash('sha256').update(seed).update(Buffer.from([block])).digest();
    for (let j = 0; j < 8; j++) table[block * 8 + j] = digest.readInt32LE(j * 4);
  }
  return table;
}
