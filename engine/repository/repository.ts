import { createHash } from 'node:crypto';
import { Chunker } from '../chunker';
import { compress, decompress } from '../compression';
import { BufferPool, discardBuffer } from '../bufferPool';
import { ByteBudget, Semaphore, awaitedLater } from '../concurrency';
import { blobId, newKeyring, open, seal, type Keyring } from '../crypto/keyring';
import { makePassphraseSlot, parseSlot, type KeySlot } from '../crypto/keySlots';
import {
  BackupError,
  CorruptionError,
  describeError,
  NotFoundError,
  RepositoryExistsError,
  StorageError,
} from '../errors';
import { listAll, type Storage } from '../storage/storage';
import { BlobIndex, fillsIndex, validateIndexFile, type IndexFile } from './blobIndex';
import { newConfig, type RepoConfig } from './config';
import { CONFIG_KEY, INDEX_PREFIX, KEYS_PREFIX, indexKey, keyKey, packKey } from './layout';
import { PackWriter, sealBlob, sealedBody, type BlobType } from './pack';
import { writeCause } from '../storage/writeAll';
import { unlockRepository, type OpenOptions, type Unlocked } from './unlock';

export type { OpenOptions } from './unlock';

export interface InitOptions {
  passphrase: string;
  config?: Parameters<typeof newConfig>[0];
}

/** Counters a writer keeps, for stats and progress. */
export interface WriteCounters {
  blobsAdded: number;
  /** plain bytes of blobs that were new to the repository */
  bytesAdded: number;
  /** bytes written to storage (sealed, compressed, with pack headers) */
  bytesStored: number;
  packsWritten: number;
}

const UPLOADS_IN_FLIGHT = 2;
const COMPRESSION_BUDGET = 32 * 1024 * 1024;
/** Index objects read ahead of the one being added (loadIndex). */
const INDEX_READ_AHEAD = 8;

/** Write an index object every this many packs (or fewer holding many blobs: fillsIndex), so an interrupted backup's data is reused. */
const PACKS_PER_INDEX = 64;

/**
 * An open repository: keys, config, the blob index and the pack writer.
 * Everything above (archiver, restorer, checker, prune) works through it.
 */
export class Repository {
  readonly index = new BlobIndex();
  /** How long a lock waits out a conflicting one when the operation names no wait of its own (default 0: fail at once, as restic). */
  lockWaitMs = 0;
  readonly chunker: Chunker;
  readonly counters: WriteCounters = { blobsAdded: 0, bytesAdded: 0, bytesStored: 0, packsWritten: 0 };
  private indexLoaded = false;
  /** the index objects loadIndex read */
  private loadedIndexKeys = new Set<string>();
  /** pack segments, reused across packs (8: a full write queue's worth, and the one being filled) */
  private readonly segmentPool = new BufferPool(8);
  private packer: PackWriter;
  private readonly pending = new Set<string>();
  private readonly uploads = new Semaphore(UPLOADS_IN_FLIGHT);
  private readonly inFlight = new Set<Promise<void>>();
  private readonly compressionBudget = new ByteBudget(COMPRESSION_BUDGET);
  private unindexed: IndexFile['packs'] = [];
  private writeError: unknown = null;
  /** operations under a lock running on this handle */
  private operations = 0;

  private constructor(
    readonly storage: Storage,
    readonly keyring: Keyring,
    readonly config: RepoConfig,
    /** the key slot this session opened with */
    readonly slot: KeySlot,
  ) {
    this.chunker = new Chunker(config.chunker);
    this.packer = new PackWriter(storage.spoolDir, this.segmentPool);
  }

  static async init(storage: Storage, opts: InitOptions): Promise<Repository> {
    const config = newConfig(opts.config); // first: settings it refuses leave nothing behind, not even the bucket
    await storage.create();
    if (await storage.stat(CONFIG_KEY)) {
      throw new RepositoryExistsError(`a repository already exists at ${storage.location}`);
    }
    const ring = newKeyring();
    const slot = await makePassphraseSlot(ring, opts.passphrase);
    // Key first, config last: a repository exists once its config does. Two processes creating
    // one at once (two workers' first backups): one config is written, the other's key slot goes.
    await storage.put(keyKey(slot.id), Buffer.from(JSON.stringify(slot, null, 2)));
    const sealed = seal(ring, Buffer.from(JSON.stringify(config)), 'dbm-config');
    if (!(await storage.putIfAbsent(CONFIG_KEY, sealed)) && !(await storage.get(CONFIG_KEY)).equals(sealed)) {
      await storage.delete(keyKey(slot.id));
      throw new RepositoryExistsError(`a repository already exists at ${storage.location}`);
    }
    return new Repository(storage, ring, config, slot);
  }

  /** Opens the repository, creating it first when there is none (whoever creates it at the same time, one repository results). */
  static async initOrOpen(storage: Storage, opts: InitOptions): Promise<Repository> {
    if (await Repository.exists(storage)) return Repository.open(storage, opts);
    try {
      return await Repository.init(storage, opts);
    } catch (err) {
      if (err instanceof RepositoryExistsError) return Repository.open(storage, opts);
      throw err;
    }
  }

  /**
   * Another handle on this repository with its keys already open (no key derivation), whose index
   * is read anew when loaded: a long-lived reader (the API) sees the backups and prunes made since.
   */
  fresh(): Repository {
    return new Repository(this.storage, this.keyring, this.config, this.slot);
  }

  /** This handle while the repository's index objects are the ones it loaded; a fresh one once a backup or prune changed them. */
  async current(): Promise<Repository> {
    if (!this.indexLoaded) return this;
    const keys = await listAll(this.storage, INDEX_PREFIX);
    return keys.length === this.loadedIndexKeys.size && keys.every((o) => this.loadedIndexKeys.has(o.key)) ? this : this.fresh();
  }

  static async exists(storage: Storage): Promise<boolean> {
    return (await storage.stat(CONFIG_KEY)) !== null;
  }

  static async open(storage: Storage, opts: OpenOptions): Promise<Repository> {
    return Repository.unlocked(storage, await unlockRepository(storage, opts));
  }

  /** The repository whose keys `unlock` opened: a caller may derive them while this module loads (the CLI does). */
  static unlocked(storage: Storage, { ring, config, slot }: Unlocked): Repository {
    return new Repository(storage, ring, config, slot);
  }

  /** Encrypt and store a small object (snapshot, index, lock, report). Returns its content id. */
  async putSealed(keyFor: (id: string) => string, value: unknown, aad: string): Promise<{ id: string; key: string; size: number }> {
    const { mode, data } = await compress(Buffer.from(JSON.stringify(value)), this.config.compressionLevel);
    const sealed = seal(this.keyring, [Buffer.from([mode]), data], aad);
    const id = createHash('sha256').update(sealed).digest('hex');
    const key = keyFor(id);
    await this.storage.put(key, sealed);
    return { id, key, size: sealed.length };
  }

  /** Encrypt and store bytes as one object under `key` (a WAL segment): compressed, sealed, bound to `aad`. */
  async putSealedBytes(key: string, data: Buffer, aad: string): Promise<number> {
    const { mode, data: packed } = await compress(data, this.config.compressionLevel);
    const sealed = seal(this.keyring, [Buffer.from([mode]), packed], aad);
    await this.storage.put(key, sealed);
    return sealed.length;
  }

  async getSealedBytes(key: string, aad: string, what: string, sizeHint = 0): Promise<Buffer> {
    const payload = open(this.keyring, await this.storage.get(key), aad, what);
    return decompress(payload, what, sizeHint).catch((err: Error) => {
      throw new CorruptionError(err.message);
    });
  }

  async getSealed<T>(key: string, aad: string, what: string): Promise<T> {
    return parseJson<T>(await this.getSealedBytes(key, aad, what), what);
  }

  /**
   * Loads every index object. Unreadable ones are an error: check reports them.
   * Up to INDEX_READ_AHEAD are read, decrypted and decompressed ahead, but
   * each is parsed only when its turn comes, and added before the next: a
   * parsed index object is up to ~16,000 small objects, ~4x what its records
   * take in the index, garbage once added. Holding every one until all were
   * read took memory in proportion to the whole repository's index.
   */
  async loadIndex(): Promise<void> {
    if (this.indexLoaded) return;
    const objects = await listAll(this.storage, INDEX_PREFIX);
    const what = (i: number): string => `index ${objects[i].key.slice(INDEX_PREFIX.length, INDEX_PREFIX.length + 12)}`;
    const reads = new Map<number, Promise<Buffer>>();
    const readAhead = (i: number): void => {
      if (i < objects.length) reads.set(i, awaitedLater(this.getSealedBytes(objects[i].key, 'dbm-index', what(i))));
    };
    for (let i = 0; i < INDEX_READ_AHEAD; i++) readAhead(i);
    for (let i = 0; i < objects.length; i++) {
      const plain = await reads.get(i)!;
      reads.delete(i);
      readAhead(i + INDEX_READ_AHEAD);
      const file = validateIndexFile(parseJson(plain, what(i)), what(i));
      this.index.expect(file.packs.reduce((n, p) => n + p.blobs.length, 0));
      this.index.addFile(file);
    }
    this.loadedIndexKeys = new Set(objects.map((o) => o.key));
    this.indexLoaded = true;
  }

  hasBlob(id: string): boolean {
    return this.index.has(id) || this.pending.has(id);
  }

  /**
   * Store a blob unless the repository already has it. Returns once the blob
   * is queued in a pack (sealed: the caller may reuse `data` from then on);
   * `flush` makes it durable and indexed.
   */
  async saveBlob(type: BlobType, data: Buffer, knownId?: string): Promise<{ id: string; added: boolean }> {
    this.throwIfFailed();
    const id = knownId ?? blobId(this.keyring, data);
    if (this.hasBlob(id)) return { id, added: false };
    this.pending.add(id);
    await this.compressionBudget.take(data.length);
    let sealed: Buffer[];
    try {
      const encoded = await compress(data, this.config.compressionLevel);
      sealed = sealBlob(this.keyring, id, encoded);
      if (encoded.data !== data) discardBuffer(encoded.data);
    } catch (err) {
      // Never stored: no later backup on this handle may count on it.
      this.pending.delete(id);
      throw err;
    } finally {
      this.compressionBudget.give(data.length);
    }
    const body = sealedBody(sealed);
    await this.queueBlob(type, id, sealed, data.length, () => discardBuffer(body));
    return { id, added: true };
  }

  /**
   * Store a blob sealed elsewhere (by a worker thread, with this repository's
   * keys) unless the repository already has it. Same contract as saveBlob.
   * `release` runs once the pieces are no longer needed (written, or not
   * stored after all): their memory freed, or back to its pool.
   */
  async saveSealedBlob(type: BlobType, id: string, sealed: Buffer | Buffer[], rawLength: number, release?: () => void): Promise<{ id: string; added: boolean }> {
    this.throwIfFailed();
    if (this.hasBlob(id)) {
      release?.();
      return { id, added: false };
    }
    this.pending.add(id);
    await this.queueBlob(type, id, sealed, rawLength, release);
    return { id, added: true };
  }

  private async queueBlob(type: BlobType, id: string, sealed: Buffer | Buffer[], rawLength: number, release?: () => void): Promise<void> {
    this.counters.blobsAdded++;
    this.counters.bytesAdded += rawLength;
    await this.addToPack(type, id, sealed, rawLength, release);
  }

  /** Put an already sealed blob into a new pack as it is (prune's repack). */
  async copySealedBlob(type: BlobType, id: string, sealed: Buffer, rawLength: number): Promise<void> {
    this.throwIfFailed();
    await this.addToPack(type, id, sealed, rawLength);
  }

  private async addToPack(type: BlobType, id: string, sealed: Buffer | Buffer[], rawLength: number, release?: () => void): Promise<void> {
    const packer = this.packer;
    try {
      packer.add(type, id, sealed, rawLength, release);
      if (packer.size >= this.config.packSize) await this.finishPack();
      else await packer.drained();
    } catch (err) {
      // the spool file cannot be written (a full disk): this handle stores nothing more
      this.writeError ??=
        err instanceof BackupError ? err : new StorageError(`cannot write a pack in ${this.storage.spoolDir}: ${writeCause(err) ?? describeError(err)}`);
      throw this.writeError;
    }
  }

  private async finishPack(): Promise<void> {
    const packer = this.packer;
    if (packer.count === 0) return;
    this.packer = new PackWriter(this.storage.spoolDir, this.segmentPool);
    const release = await this.uploads.acquire();
    const upload = (async () => {
      let id = '';
      try {
        const pack = await packer.finish(this.keyring);
        id = pack.id;
        await this.storage.putFile(packKey(id), pack.file);
        this.index.addPack(id, pack.size, pack.entries);
        for (const e of pack.entries) this.pending.delete(e.id);
        this.counters.bytesStored += pack.size;
        this.counters.packsWritten++;
        this.unindexed.push({ id, size: pack.size, blobs: pack.entries });
        const blobs = this.unindexed.reduce((n, p) => n + p.blobs.length, 0); // at most PACKS_PER_INDEX packs
        if (fillsIndex(this.unindexed.length, blobs, PACKS_PER_INDEX)) await this.writeIndex();
      } catch (err) {
        await packer.discard();
        this.writeError ??=
          err instanceof BackupError ? err : new StorageError(`cannot write pack ${id ? `${id.slice(0, 12)} ` : ''}to ${this.storage.location}: ${describeError(err)}`);
      } finally {
        release();
      }
    })();
    this.inFlight.add(upload);
    void upload.finally(() => this.inFlight.delete(upload));
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    const file: IndexFile = { version: 1, packs };
    const { size } = await this.putSealed(indexKey, file, 'dbm-index');
    this.counters.bytesStored += size;
  }

  /** Close the open pack, wait for uploads, write the index for them. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    await this.finishPack();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.throwIfFailed();
    await this.writeIndex();
  }

  /** An operation under a lock begins on this handle (withLock's bookkeeping). */
  beginOperation(): void {
    this.operations++;
  }

  /**
   * An operation under a lock ends. One that failed, with no other running on
   * this handle, leaves nothing behind it once its lock is released: the pack
   * being filled and its spool file are dropped, and uploads under way are
   * awaited. While another operation runs, the open pack holds its blobs too,
   * so it stays (whatever the failed one added is then stored unreferenced,
   * and prune removes it).
   */
  async endOperation(failed: boolean): Promise<void> {
    this.operations--;
    if (!failed || this.operations > 0) return;
    const packer = this.packer;
    this.packer = new PackWriter(this.storage.spoolDir, this.segmentPool);
    for (const e of packer.entries) this.pending.delete(e.id);
    await packer.discard();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private throwIfFailed(): void {
    if (this.writeError) throw this.writeError;
  }

  /** Reads, decrypts, decompresses and authenticates one blob. */
  async loadBlob(id: string): Promise<Buffer> {
    const loc = this.index.get(id);
    if (!loc) throw new NotFoundError(`blob ${id.slice(0, 12)} is not in the index`);
    const sealed = await this.storage.getRange(packKey(loc.pack), loc.offset, loc.length);
    if (sealed.length !== loc.length) {
      throw new CorruptionError(`pack ${loc.pack.slice(0, 12)} is truncated (blob ${id.slice(0, 12)})`);
    }
    return this.openBlob(id, sealed, loc.pack, loc.rawLength);
  }

  /** Decrypts a sealed blob and checks that its content still hashes to its id. */
  async openBlob(id: string, sealed: Buffer, pack: string, rawLength = 0): Promise<Buffer> {
    const what = `blob ${id.slice(0, 12)} in pack ${pack.slice(0, 12)}`;
    const payload = open(this.keyring, sealed, Buffer.from(id, 'hex'), what);
    const data = await decompress(payload, what, rawLength).catch((err: Error) => {
      throw new CorruptionError(err.message);
    });
    if (data.buffer !== payload.buffer) discardBuffer(payload); // decompressed: the payload is done with
    if (blobId(this.keyring, data) !== id) throw new CorruptionError(`${what} does not match its id`);
    return data;
  }

  async listSlots(): Promise<KeySlot[]> {
    const objects = await listAll(this.storage, KEYS_PREFIX);
    return Promise.all(objects.map(async (o) => parseSlot(await this.storage.get(o.key), o.key)));
  }
}

function parseJson<T>(plain: Buffer, what: string): T {
  try {
    return JSON.parse(plain.toString('utf8')) as T;
  } catch {
    throw new CorruptionError(`${what} is not valid JSON`);
  }
}
