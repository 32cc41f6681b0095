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
   * Length of the chunk starting at `start`. The caller passes at least `max`
   * bytes unless the input ends before that.
   */
  cut(buf: Buffer, start: number, end: number): number {
    const n = end - start;
    if (n <= this.min) return n;
    const limit = start + Math.min(n, this.max);
    const normal = start + Math.min(this.avg, limit - start);
    const gear = this.gear;
    const hard = this.maskHard;
    const easy = this.maskEasy;
    let h = 0;
    let i = start + this.min;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[buf[i]]) | 0;
      if ((h & hard) === 0) return i - start + 1;
    }
    for (; i < limit; i++) {
      h = ((h << 1) + gear[buf[i]]) | 0;
      if ((h & easy) === 0) return i - start + 1;
    }
    return limit - start;
  }

  /** A work buffer large enough for `chunks`; reuse it across files. */
  workBuffer(): Buffer {
    return Buffer.allocUnsafe(this.max * 2);
  }

  /**
   * Splits a source into chunks. Each yielded chunk is a view into `work`,
   * valid only until the next one is requested: copy what you keep.
   */
  async *chunks(source: ByteSource, work: Buffer = this.workBuffer()): AsyncGenerator<Buffer> {
    let start = 0;
    let end = 0;
    let eof = false;
    for (;;) {
      while (!eof && end - start < this.max) {
        if (end === work.length) {
          work.copy(work, 0, start, end);
          end -= start;
          start = 0;
        }
        const n = await source.read(work, end, work.length - end);
        if (n === 0) eof = true;
        else end += n;
      }
      if (start === end) return;
      const len = this.cut(work, start, end);
      yield work.subarray(start, start + len);
      start += len;
    }
  }
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
