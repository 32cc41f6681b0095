import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BackupError, CorruptionError, InvalidInputError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { listAll } from '../../storage/storage';

/**
 * The WAL archive of a PostgreSQL cluster, in the repository under
 * `wal/<cluster>/<file name>`: one sealed, compressed object per file, as
 * WAL-G stores them (WAL hardly deduplicates, and one object per segment makes
 * push and fetch one request each). An archived file is never overwritten.
 */
export const WAL_PREFIX = 'wal/';

export interface WalHeader {
  name: string;
  size: number;
  sha256: string;
  pushedAt: string;
}

const SEGMENT = /^[0-9A-F]{24}$/;
const OTHER = /^([0-9A-F]{24}\.partial|[0-9A-F]{8}\.history|[0-9A-F]{24}\.[0-9A-F]{8}\.backup)$/;

export function checkClusterName(cluster: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(cluster) || cluster.startsWith('.')) {
    throw new InvalidInputError(`cluster name ${JSON.stringify(cluster)}: use letters, digits, _ . - (at most 64)`);
  }
  return cluster;
}

export function checkWalName(name: string): string {
  if (!SEGMENT.test(name) && !OTHER.test(name)) throw new InvalidInputError(`${JSON.stringify(name)} is not a WAL file name`);
  return name;
}

export const isSegment = (name: string): boolean => SEGMENT.test(name);
export const walKey = (cluster: string, name: string): string => `${WAL_PREFIX}${checkClusterName(cluster)}/${checkWalName(name)}`;
const aadOf = (cluster: string, name: string): string => `dbm-wal:${cluster}/${name}`;

function encode(header: WalHeader, data: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, data]);
}

function decode(payload: Buffer, what: string): { header: WalHeader; data: Buffer } {
  const len = payload.readUInt32BE(0);
  const header = JSON.parse(payload.subarray(4, 4 + len).toString('utf8')) as WalHeader;
  const data = payload.subarray(4 + len);
  if (data.length !== header.size || createHash('sha256').update(data).digest('hex') !== header.sha256) {
    throw new CorruptionError(`${what}: content does not match its checksum`);
  }
  return { header, data };
}

async function readArchived(repo: Repository, cluster: string, name: string): Promise<{ header: WalHeader; data: Buffer }> {
  const what = `WAL ${name} of cluster ${cluster}`;
  return decode(await repo.getSealedBytes(walKey(cluster, name), aadOf(cluster, name), what, 17 * 1024 * 1024), what);
}

/**
 * archive_command: stores one WAL file. Pushing a file already archived with
 * the same content succeeds (PostgreSQL retries after a crash); with different
 * content it fails, so a misconfigured second cluster can never overwrite
 * this one's history. A segment is held in memory (wal_segment_size, 16 MiB
 * by default): sealing is whole-object.
 */
export async function pushWal(repo: Repository, cluster: string, file: string): Promise<'stored' | 'already archived'> {
  const name = checkWalName(path.basename(file));
  const key = walKey(cluster, name);
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (err) {
    throw new BackupError(`cannot read WAL file ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (await repo.storage.stat(key)) {
    const archived = await readArchived(repo, cluster, name);
    if (archived.header.sha256 === sha256) return 'already archived';
    throw new BackupError(`WAL ${name} is already archived for cluster ${cluster} with different content: refusing to overwrite (is another cluster archiving under the same name?)`);
  }
  await repo.putSealedBytes(key, encode({ name, size: data.length, sha256, pushedAt: new Date().toISOString() }, data), aadOf(cluster, name));
  return 'stored';
}

/** restore_command: writes one archived WAL file to `dest`; false when the archive does not have it. */
export async function fetchWal(repo: Repository, cluster: string, name: string, dest: string): Promise<boolean> {
  if (!(await repo.storage.stat(walKey(cluster, name)))) return false;
  const { data } = await readArchived(repo, cluster, name);
  // PostgreSQL reads the file once the command exits: write it whole, then rename into place.
  const tmp = `${dest}.dbm-partial`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, dest);
  return true;
}

/** The archived file names of a cluster, in order (timeline, then position). */
export async function listWal(repo: Repository, cluster: string): Promise<string[]> {
  const prefix = `${WAL_PREFIX}${checkClusterName(cluster)}/`;
  return (await listAll(repo.storage, prefix)).map((o) => o.key.slice(prefix.length)).sort();
}

export async function walHeader(repo: Repository, cluster: string, name: string): Promise<WalHeader> {
  return (await readArchived(repo, cluster, name)).header;
}

export async function deleteWal(repo: Repository, cluster: string, names: string[]): Promise<void> {
  for (const name of names) await repo.storage.delete(walKey(cluster, name));
}

/** Clusters with a WAL archive in the repository. */
export async function walClusters(repo: Repository): Promise<string[]> {
  const names = new Set((await listAll(repo.storage, WAL_PREFIX)).map((o) => o.key.slice(WAL_PREFIX.length).split('/')[0]));
  return [...names].sort();
}

/** LSNs and segment names: a segment is TTTTTTTT (timeline) XXXXXXXX (LSN / 4 GiB) YYYYYYYY (segment within). */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new InvalidInputError(`${JSON.stringify(lsn)} is not an LSN (like 0/3000060)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function segmentOf(lsn: bigint, segmentSize: number): bigint {
  return lsn / BigInt(segmentSize);
}

export function segmentName(timeline: number, segno: bigint, segmentSize: number): string {
  const perId = 0x100000000n / BigInt(segmentSize);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / perId)}${hex(segno % perId)}`;
}

export function parseSegmentName(name: string, segmentSize: number): { timeline: number; segno: bigint } {
  const perId = 0x100000000n / BigInt(segmentSize);
  return { timeline: parseInt(name.slice(0, 8), 16), segno: BigInt(`0x${name.slice(8, 16)}`) * perId + BigInt(`0x${name.slice(16, 24)}`) };
}
