import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { MAX_BLOB_BYTES } from './repository/layout';

/**
 * zstd from Node's zlib (Node ≥ 22.15). A stored payload starts with one
 * byte saying how the rest is encoded, so incompressible data is kept raw and
 * costs one byte, not a failed expansion.
 */
export const RAW = 0;
export const ZSTD = 1;
/** Keep the compressed form only when it saves at least this fraction. */
const MIN_SAVING = 0.03;
/** Chunks larger than this are probed first: random data skips zstd entirely (see levelFor). */
const PROBE_BYTES = 64 * 1024;
/** zstd's fastest level: the probe's, and the one a chunk is compressed at when it packs it smaller… */
const FAST_LEVEL = 1;
/** …on this much of the probe's sample… */
const LEVEL_PROBE_BYTES = 16 * 1024;
/**
 * …by a clear margin: on a part this small the levels come out closer than on
 * the whole chunk, either way, and a near tie says little (binaries: 0.99 on
 * the part can be 1.1 on the chunk; hash-laden text 0.96 on the part, 0.92 on the chunk).
 */
const FAST_MARGIN = 0.97;
/** Below this, compressing on the event loop is cheaper than a thread-pool round trip. */
const SYNC_BELOW = 32 * 1024;

if (typeof zlib.zstdCompress !== 'function') {
  throw new Error(`zstd is missing from this Node.js (${process.version}); data-backup-manager needs Node >= 22.15`);
}

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

export const DEFAULT_LEVEL = 3;
/**
 * Above it a backup's memory passes its bound (150 MB): zstd's contexts grow
 * with the level, one per sealing thread. Peak RSS backing up a 23 MB tree of
 * source: level 3 117 MiB, 9 135, 12 148, 15 161, 19 176.
 */
export const MAX_LEVEL = 9;

/** What a compression setting may be called, besides its level: `repo init --compression`, DBM_COMPRESSION, the repository credential. */
export const LEVEL_NAMES = { off: 0, fast: 1, default: DEFAULT_LEVEL } as const;
export type LevelName = keyof typeof LEVEL_NAMES;

export function isLevelName(value: string): value is LevelName {
  return Object.hasOwn(LEVEL_NAMES, value);
}

/** The level a name or a number stands for; null when it is neither (a number out of range is the config's to refuse). */
export function namedLevel(value: string): number | null {
  if (isLevelName(value)) return LEVEL_NAMES[value];
  return /^\d+$/.test(value) ? Number(value) : null;
}

export interface Encoded {
  mode: number;
  data: Buffer;
}

function options(level: number, size: number): zlib.ZstdOptions {
  return {
    params: {
      [zlib.constants.ZSTD_c_compressionLevel]: level,
      [zlib.constants.ZSTD_c_checksumFlag]: 0,
    },
    pledgedSrcSize: size,
    // One output buffer for the whole result: zlib's default 16 KiB slices cost a thread-pool round trip each.
    chunkSize: Math.max(64 * 1024, bound(size)),
  } as zlib.ZstdOptions;
}

/** zstd's worst case for `size` bytes of input, with room to spare. */
function bound(size: number): number {
  return size + (size >> 7) + 1024;
}

function worthIt(packed: number, raw: number): boolean {
  return packed <= raw * (1 - MIN_SAVING);
}

/** Compresses when it pays. Large inputs run in libuv's thread pool, off the event loop. */
export async function compress(data: Buffer, level = DEFAULT_LEVEL): Promise<Encoded> {
  if (level <= 0 || data.length < SYNC_BELOW) return compressSync(data, level);
  const chosen = levelFor(data, level);
  if (chosen === 0) return { mode: RAW, data };
  const packed = await zstdCompress(data, options(chosen, data.length));
  return worthIt(packed.length, data.length) ? { mode: ZSTD, data: packed } : { mode: RAW, data };
}

/** compress on the calling thread: for small inputs, and for worker threads, where blocking is the point. */
export function compressSync(data: Buffer, level = DEFAULT_LEVEL): Encoded {
  const chosen = data.length < 64 ? 0 : levelFor(data, level);
  if (chosen === 0) return { mode: RAW, data };
  const packed = (data.length <= REUSED_MAX_INPUT ? compressedWithReuse(data, chosen) : null) ?? zlib.zstdCompressSync(data, options(chosen, data.length));
  return worthIt(packed.length, data.length) ? { mode: ZSTD, data: packed } : { mode: RAW, data };
}

/** Inputs up to this size go through a reused context; above it the context's cost no longer shows. */
const REUSED_MAX_INPUT = 64 * 1024;

/** What Node's zstd handle offers internally (zlib's own sync path uses exactly this). */
interface ZstdHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
}

/**
 * The native handle of a zstd stream and the state it reports after each
 * write ([output room left, input left]), or null when this Node.js has them
 * no more. Errors go through the callers' fallbacks, not the stream's 'error'
 * event (unheard, it would end the process).
 */
function zstdInternals(stream: zlib.ZstdCompress | zlib.ZstdDecompress): { stream: typeof stream; handle: ZstdHandle; state: Uint32Array } | null {
  stream.on('error', () => undefined);
  const internals = stream as unknown as { _handle?: ZstdHandle; _writeState?: Uint32Array };
  if (typeof internals._handle?.writeSync !== 'function' || !(internals._writeState instanceof Uint32Array)) return null;
  return { stream, handle: internals._handle, state: internals._writeState };
}

/** What both kinds of context are checked with before first use. */
const PROBE = Buffer.from('data-backup-manager zstd context probe '.repeat(8));

/**
 * One zstd context per level and thread, reused for every small input.
 * Node's zlib builds a new context and a stream object per call, which costs
 * more than compressing a 4 KiB blob itself (~40 µs against ~30 µs here) and
 * makes most of the garbage of a tree of small files. Node has no public way
 * to reuse a context, so this drives the stream's native handle as zlib's
 * own sync path does: ZSTD_e_end with the whole input ends one frame (with
 * its size, as a one-shot call writes it) and leaves the context ready for
 * the next. If the internals are not there, or the first frame does not
 * round-trip, it is not used and every call builds its own context again;
 * after anything unexpected it is dropped and the next call makes a new one.
 */
class ReusedContext {
  private constructor(
    private readonly zstd: NonNullable<ReturnType<typeof zstdInternals>>,
    /** its output buffer, which contexts whose results never outlive the next call on this thread may share */
    private readonly output: { buffer: Buffer },
  ) {}

  static create(level: number, output = { buffer: Buffer.allocUnsafeSlow(bound(REUSED_MAX_INPUT)) }): ReusedContext | null {
    try {
      const zstd = zstdInternals(zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 0 } }));
      const ctx = zstd && new ReusedContext(zstd, output);
      const packed = ctx?.compress(PROBE);
      return packed && zlib.zstdDecompressSync(packed).equals(PROBE) ? ctx : null;
    } catch {
      return null;
    }
  }

  /** One whole frame, or null (the caller compresses it the ordinary way) when the call did not end one. */
  compress(data: Buffer): Buffer | null {
    const view = this.compressView(data);
    return view && Buffer.from(view);
  }

  /** compress, into the context's own output buffer (grown to fit): a view valid until the next call. */
  compressView(data: Buffer): Buffer | null {
    if (this.output.buffer.length < bound(data.length)) this.output.buffer = Buffer.allocUnsafeSlow(bound(data.length));
    const out = this.output.buffer;
    try {
      this.zstd.handle.writeSync(zlib.constants.ZSTD_e_end, data, 0, data.length, out, 0, out.length);
    } catch {
      return null;
    }
    const [availOut, availIn] = this.zstd.state;
    if (this.zstd.stream.destroyed || availIn !== 0 || availOut === 0) return null;
    return out.subarray(0, out.length - availOut);
  }
}

/**
 * The same for decompression of payloads whose plain size the index gives:
 * one context, one frame per call. Anything unexpected (an error, a frame
 * that does not end where the index says) drops the context and leaves the
 * payload to zstdDecompressSync, which reports it properly.
 */
class ReusedDecompression {
  private constructor(private readonly zstd: NonNullable<ReturnType<typeof zstdInternals>>) {}

  static create(): ReusedDecompression | null {
    try {
      const zstd = zstdInternals(zlib.createZstdDecompress());
      const ctx = zstd && new ReusedDecompression(zstd);
      return ctx?.decompress(zlib.zstdCompressSync(PROBE), PROBE.length)?.equals(PROBE) ? ctx : null;
    } catch {
      return null;
    }
  }

  /** The plain bytes, or null (the caller decodes it the ordinary way). */
  decompress(body: Buffer, size: number): Buffer | null {
    // One spare byte: a frame that fits leaves room, so the end of the frame is known to be reached.
    const out = Buffer.allocUnsafe(size + 1);
    try {
      this.zstd.handle.writeSync(zlib.constants.ZSTD_e_end, body, 0, body.length, out, 0, out.length);
    } catch {
      return null;
    }
    const [availOut, availIn] = this.zstd.state;
    if (this.zstd.stream.destroyed || availIn !== 0 || out.length - availOut !== size) return null;
    return out.subarray(0, size);
  }
}

let decompression: ReusedDecompression | null | undefined;
function reusedDecompression(): ReusedDecompression | null {
  if (decompression === undefined) decompression = ReusedDecompression.create();
  return decompression;
}

const compression = new Map<number, ReusedContext | null>();
function reusedContext(level: number): ReusedContext | null {
  if (!compression.has(level)) compression.set(level, ReusedContext.create(level));
  return compression.get(level)!;
}

/** A reused context that failed is in an unknown state: the next payload gets a new one. */
function compressedWithReuse(data: Buffer, level: number): Buffer | null {
  const ctx = reusedContext(level);
  const packed = ctx?.compress(data) ?? null;
  if (ctx && !packed) compression.delete(level);
  return packed;
}

/**
 * The scratch contexts, apart from the small-input ones, one per level a
 * chunk was given (see levelFor), sharing one output buffer, which grows to
 * the largest chunk: one chunk's worth of memory per thread, whatever the levels.
 */
const scratch = new Map<number, ReusedContext | null>();
const scratchOutput = { buffer: Buffer.allocUnsafeSlow(0) };

/**
 * compressSync for a caller that seals the result before it compresses
 * again on this thread (the sealer's workers): inputs of every size go
 * through one reused context into its one output buffer, so a chunk costs
 * no allocation of its size here (a fresh context per chunk is a few MB of
 * malloc and free, which glibc was slow to give back). The compressed data
 * may be a view into that buffer: valid until the next call on this thread.
 */
export function compressScratch(data: Buffer, level = DEFAULT_LEVEL): Encoded {
  const chosen = data.length < 64 ? 0 : levelFor(data, level);
  if (chosen === 0) return { mode: RAW, data };
  if (!scratch.has(chosen)) scratch.set(chosen, ReusedContext.create(chosen, scratchOutput));
  const ctx = scratch.get(chosen)!;
  const view = ctx?.compressView(data) ?? null;
  if (ctx && !view) scratch.delete(chosen);
  const packed = view ?? zlib.zstdCompressSync(data, options(chosen, data.length));
  return worthIt(packed.length, data.length) ? { mode: ZSTD, data: packed } : { mode: RAW, data };
}

function decompressedWithReuse(body: Buffer, size: number): Buffer | null {
  const ctx = reusedDecompression();
  const plain = ctx?.decompress(body, size) ?? null;
  if (ctx && !plain) decompression = undefined;
  return plain;
}

/**
 * The level to compress `data` at, or 0 to keep it raw. Large inputs are
 * probed on a sample from their middle first, at the fast level: random data
 * skips zstd entirely. Then a part of it at both levels: data the fast level
 * packs smaller (hashes, UUIDs, tokens: a plain dump of bench:postgres's
 * tables, 8 % smaller and twice as fast) is compressed at the fast level, since
 * the higher level's shorter matches cost more than the literals they replace.
 * Everything else (source, logs, binaries) stays at `level`, for 3–5 % more
 * time (issue 15). The probes compress into a reused context's own
 * buffer: only their lengths are wanted, and a fresh 64 KiB output per chunk
 * was dead memory V8 let pile up (~20 MiB on a sealing worker, whose JS heap
 * barely moves).
 */
export function levelFor(data: Buffer, level: number): number {
  if (level <= 0) return 0;
  if (data.length <= 4 * PROBE_BYTES) return level;
  const sample = data.subarray(data.length >> 1, (data.length >> 1) + PROBE_BYTES);
  const fast = probedLength(sample, FAST_LEVEL);
  if (!worthIt(fast, sample.length)) return 0;
  if (level <= FAST_LEVEL) return level;
  const part = sample.subarray(0, LEVEL_PROBE_BYTES);
  return probedLength(part, FAST_LEVEL) < probedLength(part, level) * FAST_MARGIN ? FAST_LEVEL : level;
}

function probedLength(sample: Buffer, level: number): number {
  const ctx = reusedContext(level);
  const view = ctx?.compressView(sample) ?? null;
  if (ctx && !view) compression.delete(level);
  return view?.length ?? zlib.zstdCompressSync(sample, options(level, sample.length)).length;
}

/** Decodes a payload (mode byte + data); `sizeHint` is the plain size when known. */
export async function decompress(payload: Buffer, what: string, sizeHint = 0): Promise<Buffer> {
  // Small payloads: a thread-pool round trip costs ~5x the work itself.
  if (payload[0] !== ZSTD || payload.length - 1 < SYNC_BELOW) return decompressSync(payload, what, sizeHint);
  try {
    const body = payload.subarray(1);
    return await zstdDecompress(body, decodeOptions(sizeHint || frameContentSize(body)));
  } catch {
    throw new Error(`${what}: zstd data is corrupt`);
  }
}

/** decompress on the calling thread: small payloads, where a thread-pool round trip costs more than the work. */
export function decompressSync(payload: Buffer, what: string, sizeHint = 0): Buffer {
  const mode = payload[0];
  const body = payload.subarray(1);
  if (mode === RAW) return body;
  if (mode !== ZSTD) throw new Error(`${what}: unknown compression mode ${mode}`);
  try {
    const reused = sizeHint > 0 && sizeHint <= REUSED_MAX_INPUT ? decompressedWithReuse(body, sizeHint) : null;
    return reused ?? zlib.zstdDecompressSync(body, decodeOptions(sizeHint || frameContentSize(body)));
  } catch {
    throw new Error(`${what}: zstd data is corrupt`);
  }
}

/**
 * The plain size a zstd frame's header declares (our compressor always
 * declares it), or 0. Without a size, zlib decodes into 64 KiB pieces, each a
 * thread-pool round trip, and joins them: a 2 MB index object took ~30.
 * Only a hint: the output is still bounded (decodeOptions).
 */
export function frameContentSize(frame: Buffer): number {
  if (frame.length < 6 || frame.readUInt32LE(0) !== 0xfd2fb528) return 0;
  const descriptor = frame[4];
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
  const bytes = sizeFlag === 0 ? singleSegment : 1 << sizeFlag;
  if (bytes === 0 || frame.length < at + bytes) return 0;
  if (bytes === 1) return frame[at];
  if (bytes === 2) return frame.readUInt16LE(at) + 256;
  if (bytes === 4) return frame.readUInt32LE(at);
  const size = frame.readBigUInt64LE(at);
  return size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : 0;
}

/**
 * The hint comes from the index or the frame's header: bounded, and the output too (a small frame
 * can claim gigabytes). One spare byte: output that fills zlib's buffer
 * exactly makes it allocate another of the same size, for nothing.
 */
function decodeOptions(sizeHint: number): zlib.ZstdOptions {
  return { chunkSize: Math.min(Math.max(64 * 1024, sizeHint + 1), 64 * 1024 * 1024), maxOutputLength: MAX_BLOB_BYTES } as zlib.ZstdOptions;
}

/** Whether small payloads get reused zstd contexts on this Node.js, both ways (else each builds its own: slower, same bytes). */
export function reusesZstdContext(level = DEFAULT_LEVEL): boolean {
  return reusedContext(level) !== null && reusedDecompression() !== null;
}
