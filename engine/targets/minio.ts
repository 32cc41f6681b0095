import type * as Minio from 'minio';
import { Readable } from 'node:stream';
import { commitSnapshot, newProgress, storeContent, streamSource, type BackupOptions, type BackupProgress } from '../archiver';
import { blobId } from '../crypto/keyring';
import { describeError, InvalidInputError } from '../errors';
import { withLock } from '../repository/lock';
import type { Repository } from '../repository/repository';
import { readContent } from '../restorer';
import type { SnapshotRef } from '../snapshot';
import { createMinioClient } from '../storage/s3';
import { loadTree, saveTree, type DirNode, type FileNode, type TreeNode } from '../tree';

/**
 * Buckets (or bucket/prefix) of a MinIO/S3 endpoint. A snapshot's root has a
 * directory per bucket; below it, object keys are split on '/' into
 * directories. Names are percent-encoded so any key is representable, and
 * directory names end in %2F so a key "a" and a prefix "a/" never collide.
 */
export interface MinioSource {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region?: string;
  pathStyle?: boolean;
  /** "bucket" or "bucket/prefix" */
  buckets: string[];
}

export interface MinioDestination extends Omit<MinioSource, 'buckets'> {
  /** restore into this bucket instead of the original one (only with one bucket in the snapshot) */
  bucket?: string;
  /** put restored keys under this prefix */
  prefix?: string;
}

/** Counters of a minio backup: proof that unchanged objects were not downloaded. */
export interface MinioProgress extends BackupProgress {
  objectsDownloaded: number;
  objectsUnchanged: number;
}

const KEPT_HEADERS = ['content-type', 'cache-control', 'content-encoding', 'content-disposition', 'content-language'];
const USER_META = 'x-amz-meta-';

function encodeSegment(s: string): string {
  if (s === '') return '%';
  const e = encodeURIComponent(s);
  return e === '.' ? '%2E' : e === '..' ? '%2E%2E' : e;
}
const decodeSegment = (s: string): string => (s === '%' ? '' : decodeURIComponent(s));
const dirName = (segment: string): string => `${encodeSegment(segment)}%2F`;

function parseSpec(spec: string): { bucket: string; prefix: string } {
  const [bucket, ...rest] = spec.split('/');
  if (!bucket) throw new InvalidInputError(`bucket ${JSON.stringify(spec)} has no name`);
  return { bucket, prefix: rest.join('/') };
}

export async function discoverBuckets(source: Omit<MinioSource, 'buckets'>): Promise<string[]> {
  const client = createMinioClient(source);
  try {
    return (await client.listBuckets()).map((b) => b.name).sort();
  } catch (err) {
    throw new InvalidInputError(`cannot list buckets at ${source.endpoint}: ${describeError(err)}`);
  }
}

/** Headers worth restoring, with user metadata under its x-amz-meta- name. */
function headersOf(metaData: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metaData)) {
    const key = k.toLowerCase();
    if (KEPT_HEADERS.includes(key)) out[key] = String(v);
    else if (!key.startsWith('x-amz-') && !['etag', 'last-modified', 'content-length'].includes(key)) out[`${USER_META}${key}`] = String(v);
  }
  return out;
}

/**
 * Backs up buckets into one snapshot (target `minio`). Objects are streamed,
 * never held whole; on an incremental backup an object whose size, ETag and
 * last-modified match the parent's is not downloaded at all.
 */
export async function backupMinio(
  repo: Repository,
  source: MinioSource,
  opts: Omit<BackupOptions, 'target' | 'progress'> & { progress?: MinioProgress; target?: string } = {},
): Promise<SnapshotRef> {
  if (source.buckets.length === 0) throw new InvalidInputError('no bucket to back up');
  const client = createMinioClient(source);
  const specs = source.buckets.map(parseSpec);
  const names = new Set<string>();
  for (const { bucket } of specs) {
    if (names.has(bucket)) throw new InvalidInputError(`bucket ${bucket} is named twice; give one prefix per bucket`);
    names.add(bucket);
    let found: boolean;
    try {
      found = await client.bucketExists(bucket);
    } catch (err) {
      throw new InvalidInputError(`cannot reach ${source.endpoint} for bucket ${bucket}: ${describeError(err)}`);
    }
    if (!found) throw new InvalidInputError(`bucket ${bucket} does not exist at ${source.endpoint}`);
  }
  const progress: MinioProgress = opts.progress ?? { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 };
  return commitSnapshot(repo, 'tree', source.buckets, { ...opts, target: opts.target ?? 'minio', progress }, async (_p, parentTree) => {
    const parentRoot = parentTree ? await nodesOf(repo, parentTree) : null;
    const work = repo.chunker.workBuffer();
    const roots: TreeNode[] = [];
    for (const { bucket, prefix } of specs) {
      const parentBucket = parentRoot?.get(bucket);
      const builder = new BucketTreeBuilder(repo, client, bucket, work, progress, parentBucket?.type === 'dir' ? parentBucket.subtree : null);
      const stream = client.listObjectsV2(bucket, prefix, true);
      for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
        if (item.name !== undefined) await builder.add(item);
      }
      roots.push({ name: bucket, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0', subtree: await builder.finish() });
      progress.dirs++;
    }
    return saveTree(repo, { nodes: roots });
  });
}

async function nodesOf(repo: Repository, treeId: string): Promise<Map<string, TreeNode>> {
  return new Map((await loadTree(repo, treeId)).nodes.map((n) => [n.name, n]));
}

/**
 * Builds nested trees from keys in listing order (S3 lists keys sorted, so
 * every prefix's keys arrive together): a stack of open directories, each
 * saved once the listing has moved past it.
 */
class BucketTreeBuilder {
  /** open directories, root first; `closed` names the subdirectories already saved */
  private readonly stack: { segment: string; nodes: TreeNode[]; closed: Set<string>; parent: Map<string, TreeNode> | null }[];

  constructor(
    private readonly repo: Repository,
    private readonly client: Minio.Client,
    private readonly bucket: string,
    private readonly work: Buffer,
    private readonly progress: MinioProgress,
    private readonly parentTree: string | null,
  ) {
    this.stack = [{ segment: '', nodes: [], closed: new Set(), parent: null }];
  }

  private async openRoot(): Promise<void> {
    if (this.parentTree && !this.stack[0].parent) this.stack[0].parent = await nodesOf(this.repo, this.parentTree);
  }

  async add(item: Minio.BucketItem): Promise<void> {
    await this.openRoot();
    const segments = item.name!.split('/');
    const dirs = segments.slice(0, -1);
    // close directories the listing has left
    let depth = 0;
    while (depth < dirs.length && depth + 1 < this.stack.length && this.stack[depth + 1].segment === dirs[depth]) depth++;
    while (this.stack.length > depth + 1) await this.close();
    // open the ones it entered
    for (let i = depth; i < dirs.length; i++) {
      const top = this.stack[this.stack.length - 1];
      const parentDir = top.parent?.get(dirName(dirs[i]));
      this.stack.push({
        segment: dirs[i],
        nodes: top.closed.has(dirName(dirs[i])) ? await this.reopened(top, dirName(dirs[i])) : [],
        closed: new Set(),
        parent: parentDir?.type === 'dir' ? await nodesOf(this.repo, parentDir.subtree) : null,
      });
    }
    const top = this.stack[this.stack.length - 1];
    top.nodes.push(await this.objectNode(item, segments[segments.length - 1], top.parent));
  }

  /**
   * S3 and MinIO list keys in order, so a directory, once left, never comes
   * back. A store that lists otherwise gets a correct tree all the same: the
   * closed directory is taken out of its parent and its entries reopened.
   */
  private async reopened(parent: { nodes: TreeNode[]; closed: Set<string> }, name: string): Promise<TreeNode[]> {
    const at = parent.nodes.findIndex((n) => n.type === 'dir' && n.name === name);
    const [closed] = parent.nodes.splice(at, 1) as DirNode[];
    parent.closed.delete(name);
    await this.repo.flush(); // its tree blob may still sit in an unwritten pack
    return (await loadTree(this.repo, closed.subtree)).nodes;
  }

  private async close(): Promise<void> {
    const dir = this.stack.pop()!;
    const subtree = await saveTree(this.repo, { nodes: dir.nodes });
    const parent = this.stack[this.stack.length - 1];
    parent.closed.add(dirName(dir.segment));
    parent.nodes.push({ name: dirName(dir.segment), type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0', subtree } satisfies DirNode);
    this.progress.dirs++;
  }

  async finish(): Promise<string> {
    await this.openRoot();
    while (this.stack.length > 1) await this.close();
    return saveTree(this.repo, { nodes: this.stack[0].nodes });
  }

  private async objectNode(item: Minio.BucketItem, last: string, parent: Map<string, TreeNode> | null): Promise<FileNode> {
    const name = encodeSegment(last);
    const etag = String(item.etag ?? '');
    const lastModified = item.lastModified ? new Date(item.lastModified).toISOString() : '';
    const size = Number(item.size ?? 0);
    const mtimeNs = (BigInt(lastModified ? Date.parse(lastModified) : 0) * 1_000_000n).toString();
    this.progress.files++;
    this.progress.totalSize += size;
    const previous = parent?.get(name);
    if (
      previous?.type === 'file' &&
      previous.object &&
      previous.size === size &&
      previous.object.etag === etag &&
      previous.object.lastModified === lastModified &&
      previous.content.every((id) => this.repo.index.has(id))
    ) {
      this.progress.filesUnchanged++;
      this.progress.objectsUnchanged++;
      return previous;
    }
    const key = item.name!;
    const stat = await this.client.statObject(this.bucket, key);
    const body = await this.client.getObject(this.bucket, key);
    const stored = await storeContent(this.repo, streamSource(body), this.work, this.progress);
    this.progress.objectsDownloaded++;
    return {
      name,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeNs,
      size: stored.size,
      content: stored.content,
      object: { etag, lastModified, headers: headersOf(stat.metaData as Record<string, string>) },
    };
  }
}

/**
 * Restores a minio snapshot into the same buckets, or another bucket and
 * prefix; buckets are created when missing. Objects keep their content type
 * and user metadata.
 */
export async function restoreMinio(repo: Repository, ref: SnapshotRef, dest: MinioDestination, opts: { lockWaitMs?: number } = {}): Promise<{ objects: number; bytes: number }> {
  const client = createMinioClient(dest);
  return withLock(repo, { exclusive: false, operation: 'restore', waitMs: opts.lockWaitMs }, async () => {
    await repo.loadIndex();
    const root = await loadTree(repo, ref.snapshot.tree);
    const buckets = root.nodes.filter((n): n is DirNode => n.type === 'dir');
    if (dest.bucket && buckets.length !== 1) {
      throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} holds ${buckets.length} buckets: another bucket name fits only a snapshot of one; restore to the original names`);
    }
    const result = { objects: 0, bytes: 0 };
    for (const b of buckets) {
      const bucket = dest.bucket ?? b.name;
      try {
        if (!(await client.bucketExists(bucket))) await client.makeBucket(bucket, dest.region ?? 'us-east-1');
      } catch (err) {
        throw new InvalidInputError(`cannot create bucket ${bucket} at ${dest.endpoint}: ${describeError(err)}`);
      }
      const walk = async (treeId: string, keyPrefix: string): Promise<void> => {
        for (const node of (await loadTree(repo, treeId)).nodes) {
          if (node.type === 'dir') {
            await walk(node.subtree, `${keyPrefix}${decodeSegment(node.name.slice(0, -3))}/`);
          } else if (node.type === 'file') {
            const key = `${dest.prefix ?? ''}${keyPrefix}${decodeSegment(node.name)}`;
            await client.putObject(bucket, key, Readable.from(readContent(repo, node.content)), node.size, node.object?.headers ?? {});
            result.objects++;
            result.bytes += node.size;
          }
        }
      };
      await walk(b.subtree, '');
    }
    return result;
  });
}


/** Checks restored objects against the snapshot: every object present, its content hashing to the snapshot's ids. */
export async function verifyMinio(repo: Repository, ref: SnapshotRef, dest: MinioDestination): Promise<{ ok: boolean; objects: number; problems: { key: string; problem: string }[] }> {
  const client = createMinioClient(dest);
  await repo.loadIndex();
  const problems: { key: string; problem: string }[] = [];
  let objects = 0;
  const work = repo.chunker.workBuffer();
  for (const b of (await loadTree(repo, ref.snapshot.tree)).nodes) {
    if (b.type !== 'dir') continue;
    const bucket = dest.bucket ?? b.name;
    const walk = async (treeId: string, keyPrefix: string): Promise<void> => {
      for (const node of (await loadTree(repo, treeId)).nodes) {
        if (node.type === 'dir') {
          await walk(node.subtree, `${keyPrefix}${decodeSegment(node.name.slice(0, -3))}/`);
          continue;
        }
        if (node.type !== 'file') continue;
        const key = `${dest.prefix ?? ''}${keyPrefix}${decodeSegment(node.name)}`;
        objects++;
        let body: Readable;
        try {
          body = await client.getObject(bucket, key);
        } catch (err) {
          problems.push({ key: `${bucket}/${key}`, problem: `cannot read: ${describeError(err)}` });
          continue;
        }
        const ids: string[] = [];
        for await (const chunk of repo.chunker.chunks(streamSource(body), work)) ids.push(blobId(repo.keyring, chunk));
        if (ids.length !== node.content.length || ids.some((id, i) => id !== node.content[i])) {
          problems.push({ key: `${bucket}/${key}`, problem: 'content differs from the snapshot' });
        }
      }
    };
    await walk(b.subtree, '');
  }
  return { ok: problems.length === 0, objects, problems };
}
