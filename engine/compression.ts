import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

/**
 * zstd from Node's zlib (Node ≥ 22.15). The stored payload starts with one
 * byte that says how the rest is encoded, so incompressible data is kept raw
 * and costs one byte, not a failed expansion.
 */
const RAW = 0;
const ZSTD = 1;
/** Keep the compressed form only when it saves at least this fraction. */
const MIN_SAVING = 0.03;

if (typeof zlib.zstdCompress !== 'function') {
  throw new Error(`zstd is missing from this Node.js (${process.version}); data-backup-manager needs Node >= 22.15`);
}

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

export interface CompressionOptions {
  level: number;
}

export const DEFAULT_LEVEL = 3;

/** Encoded payload: mode byte + data. Runs in libuv's thread pool (off the event loop). */
export async function compress(data: Buffer, level = DEFAULT_LEVEL): Promise<Buffer> {
  if (level > 0 && data.length >= 64) {
    const packed = await zstdCompress(data, {
      params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 0 },
      pledgedSrcSize: data.length,
    } as zlib.ZstdOptions);
    if (packed.length <= data.length * (1 - MIN_SAVING)) return withMode(ZSTD, packed);
  }
  return withMode(RAW, data);
}

export async function decompress(payload: Buffer, what: string): Promise<Buffer> {
  const mode = payload[0];
  const body = payload.subarray(1);
  if (mode === RAW) return body;
  if (mode === ZSTD) {
    try {
      return await zstdDecompress(body);
    } catch {
      throw new Error(`${what}: zstd data is corrupt`);
    }
  }
  throw new Error(`${what}: unknown compression mode ${mode}`);
}

function withMode(mode: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = mode;
  data.copy(out, 1);
  return out;
}
