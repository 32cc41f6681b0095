/**
 * The one interface every backend implements. Keys are slash-separated
 * relative names (`data/ab/ab12…`, `snapshots/files/2026-11-26/…`). Objects
 * are written whole and never modified in place; the largest is a pack
 * (~16 MiB), written from a file (`putFile`); the others are small buffers.
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface Storage {
  /** Human-readable location, safe to print (no secrets). */
  readonly location: string;
  /** Create the container (bucket / directory) if it does not exist. */
  create(): Promise<void>;
  /**
   * Atomically write a whole object (readers see all of it or nothing). A pack
   * comes as its parts, so no backend that can write them in turn has to join them.
   */
  put(key: string, data: Buffer | readonly Buffer[]): Promise<void>;
  /**
   * Writes an object only when none exists under `key`, in one atomic step
   * where the backend offers one (a hard link locally; S3's conditional
   * `If-None-Match: *`, which AWS S3 and MinIO honour). Answers whether this
   * call wrote it. What two processes creating one repository at once decide by.
   */
  putIfAbsent(key: string, data: Buffer): Promise<boolean>;
  /**
   * Where a pack is written before `putFile` stores it: the repository's own
   * directory for a local one (storing is then a rename), the system's temp
   * directory otherwise.
   */
  readonly spoolDir: string;
  /** Atomically store a whole file as an object; the file is gone once this succeeds (moved or deleted). */
  putFile(key: string, file: string): Promise<void>;
  /**
   * The spool files a killed writer left, deleted (unless `dryRun`): all of
   * them where the spool is this repository's own (a local one: only safe
   * under the exclusive lock, when no writer runs); in a shared temp
   * directory, only those whose writer is gone (see spool.ts).
   */
  clearSpool(dryRun: boolean): Promise<{ files: number; bytes: number }>;
  get(key: string): Promise<Buffer>;
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Size of an object, or null when it does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with prefix (recursive). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Delete an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
}

export function byteLength(data: Buffer | readonly Buffer[]): number {
  return Buffer.isBuffer(data) ? data.length : data.reduce((n, b) => n + b.length, 0);
}

export async function listAll(storage: Storage, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of storage.list(prefix)) out.push(info);
  return out;
}
