import type { ByteSource } from '../../engine/chunker';

/** A ByteSource over a buffer that answers at most `pieceSize` bytes per read, as pipes and files may. */
export function sourceOf(data: Buffer, pieceSize: number): ByteSource {
  let pos = 0;
  return {
    async read(into, offset, length) {
      const n = Math.min(length, pieceSize, data.length - pos);
      data.copy(into, offset, pos, pos + n);
      pos += n;
      return n;
    },
  };
}
