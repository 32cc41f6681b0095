import { writev } from 'node:fs';
import { promisify } from 'node:util';

/** What writeAll writes through: a FileHandle, or `descriptor(fd)`. */
export interface VectorWriter {
  writev(buffers: Buffer[]): Promise<{ bytesWritten: number }>;
}

const writevFd = promisify(writev);

/** A plain file descriptor as a VectorWriter (writes at the file's position). */
export function descriptor(fd: number): VectorWriter {
  return { writev: (buffers) => writevFd(fd, buffers) };
}

/** Writes every part in order at the file's position: writev takes at most IOV_MAX (1024) buffers and may write part of them. */
export async function writeAll(handle: VectorWriter, parts: readonly Buffer[]): Promise<void> {
  for (let i = 0; i < parts.length; i += 512) {
    let batch = parts.slice(i, i + 512);
    while (batch.length > 0) {
      let { bytesWritten } = await handle.writev(batch);
      while (batch.length > 0 && bytesWritten >= batch[0].length) {
        bytesWritten -= batch[0].length;
        batch = batch.slice(1);
      }
      if (bytesWritten > 0) batch = [batch[0].subarray(bytesWritten), ...batch.slice(1)];
    }
  }
}

/** What the operating system said, in words: the cause a user can act on (a read-only mount, a full disk). */
const WRITE_CAUSES: Record<string, string> = {
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'an input/output error from the device',
};

/** The cause of a failed file write, with its code (`no space left on the device (ENOSPC)`), or undefined for other errors. */
export function writeCause(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const cause = WRITE_CAUSES[code];
  return cause ? `${cause} (${code})` : undefined;
}
