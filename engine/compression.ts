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
/** Chunks larger than this are probed first: random data skips zstd entirely. */
const PROBE_BYTES = 64 * 1024;
/** Below this, compressing on the event loop is cheaper than a thread-pool round trip. */
const SYNC_BELOW = 32 * 1024;

if (typeof zlib.zstdCompress !== 'function') {
  throw new Error(`zstd is missing from this Node.js (${process.version}); data-backup-manager needs Node >= 22.15`);
}

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

export const DEFAULT_LEVEL = 3;

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
    chunkSize: Math.max(64 * 1024, size + (size >> 7) + 1024),
  } as zlib.ZstdOptions;
}

function worthIt(packed: number, raw: number): boolean {
  return packed <= raw * (1 - MIN_SAVING);
}

/** Compresses when it pays. Large inputs run in libuv's thread pool, off the event loop. */
export async function compress(data: Buffer, level = DEFAULT_LEVEL): Promise<Encoded> {
  if (level <= 0 || data.length < 64) return { mode: RAW, data };
  if (data.length < SYNC_BELOW) {
    const packed = zlib.zstdCompressSync(data, options(level, data.length));
    return worthIt(packed.length, data.length) ? { mode: ZSTD, data: packed } : { mode: RAW, data };
  }
  if (data.length > 4 * PROBE_BYTES) {
    const sample = data.subarray(data.length >> 1, (data.length >> 1) + PROBE_BYTES);
    const probe = zlib.zstdCompressSync(sample, options(1, sample.length));
    if (!worthIt(probe.length, sample.length)) return { mode: RAW, data };
  }
  const packed = await zstdCompress(data, options(level, data.length));
  return worthIt(packed.length, data.length) ? { mode: ZSTD, data: packed } : { mode: RAW, data };
}

/** Decodes a payload (mode byte + data); `sizeHint` is the plain size when known. */
export async function decompress(payload: Buffer, what: string, sizeHint = 0): Promise<Buffer> {
  const mode = payload[0];
  const body = payload.subarray(1);
  if (mode === RAW) return body;
  if (mode === ZSTD) {
    try {
      // the hint comes from the index: bounded, and the output too (a small frame can claim gigabytes)
      const opts = { chunkSize: Math.min(Math.max(64 * 1024, sizeHint), 64 * 1024 * 1024), maxOutputLength: MAX_BLOB_BYTES } as zlib.ZstdOptions;
      // Small payloads: a thread-pool round trip costs ~5x the work itself.
      if (body.length < SYNC_BELOW) return zlib.zstdDecompressSync(body, opts);
      return await zstdDecompress(body, opts);
    } catch {
      throw new Error(`${what}: zstd data is corrupt`);
    }
  }
  throw new Error(`${what}: unknown compression mode ${mode}`);
}
