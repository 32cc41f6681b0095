import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { NotFoundError, StorageError } from '../errors';
import type { ObjectInfo, Storage } from './storage';
import { writeAll, writeCause } from './writeAll';

/** Files being written carry this in their name; listings skip them. */
const TMP_MARK = '.tmp-';

/** A repository in a local directory. Writes go to a temp file, fsync, rename. */
export class LocalStorage implements Storage {
  readonly location: string;
  /** Packs are spooled next to where they go, so storing one is a rename. */
  readonly spoolDir: string;

  constructor(private readonly root: string) {
    this.root = path.resolve(root);
    this.location = this.root;
    this.spoolDir = path.join(this.root, 'data');
  }

  private file(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  async create(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true }).catch((err: unknown) => {
      throw writeError(err, this.root, 'create the repository directory');
    });
  }

  async put(key: string, data: Buffer | readonly Buffer[]): Promise<void> {
    await this.writeThen(key, data, (tmp, target) => fs.rename(tmp, target)).catch((err: unknown) => {
      throw writeError(err, this.root, `write ${key}`);
    });
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    try {
      // link, unlike rename, fails when the target exists: whole, and only one writer wins
      await this.writeThen(key, data, (tmp, target) => fs.link(tmp, target));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw writeError(err, this.root, `write ${key}`);
    }
  }

  /**
   * Writes `data` whole and synced to a temporary file beside the key's, then `place`s it there
   * (rename, link). The temporary never stays: nothing half-written is left behind (a full disk
   * keeps what it had, no more).
   */
  private async writeThen(key: string, data: Buffer | readonly Buffer[], place: (tmp: string, target: string) => Promise<void>): Promise<void> {
    const target = this.file(key);
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    try {
      await fs.mkdir(path.dirname(target), { recursive: true });
      const handle = await fs.open(tmp, 'wx', 0o600);
      try {
        if (Buffer.isBuffer(data)) await handle.writeFile(data);
        else await writeAll(handle, data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await place(tmp, target);
    } finally {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async putFile(key: string, file: string): Promise<void> {
    const target = this.file(key);
    try {
      const handle = await fs.open(file, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(file, target);
    } catch (err) {
      throw writeError(err, this.root, `write ${key}`);
    }
  }

  async clearSpool(dryRun: boolean): Promise<{ files: number; bytes: number }> {
    const left = { files: 0, bytes: 0 };
    const names = await fs.readdir(this.spoolDir, { recursive: true }).catch(() => [] as string[]);
    for (const name of names) {
      if (!path.basename(name).includes(TMP_MARK)) continue;
      const file = path.join(this.spoolDir, name);
      const st = await fs.lstat(file).catch(() => null);
      if (!st?.isFile()) continue;
      left.files++;
      left.bytes += st.size;
      if (!dryRun) await fs.rm(file, { force: true });
    }
    return left;
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.file(key));
    } catch (err) {
      throw mapMissing(err, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file(key), 'r');
    } catch (err) {
      throw mapMissing(err, key);
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      await handle.close();
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await fs.stat(this.file(key));
      return st.isFile() ? { key, size: st.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk from the deepest directory the prefix names, then filter by prefix.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.walk(baseKey, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fs.readdir(dirKey ? this.file(dirKey) : this.root, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix) && !entry.name.includes(TMP_MARK)) {
        const st = await fs.stat(this.file(key)).catch(() => null);
        if (st) yield { key, size: st.size };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }
}

function writeError(err: unknown, root: string, what: string): Error {
  const cause = writeCause(err);
  return cause ? new StorageError(`cannot ${what} in the repository at ${root}: ${cause}`) : (err as Error);
}

function mapMissing(err: unknown, key: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new NotFoundError(`object ${key} does not exist`);
  return err;
}
