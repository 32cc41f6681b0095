import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Asynchronous WAL archiving, PostgreSQL's side: archive_command copies the
 * segment into a spool directory (fsynced, then renamed into place) and
 * returns; `repo wal-uploader` stores the spool. This module needs nothing
 * but the file system, so the command PostgreSQL runs per segment starts fast
 * (see wal-spool.ts).
 */
export const SPOOL_MAX_BYTES = 1024 ** 3;
const WAL_NAME = /^([0-9A-F]{24}|[0-9A-F]{24}\.partial|[0-9A-F]{8}\.history|[0-9A-F]{24}\.[0-9A-F]{8}\.backup)$/;

export class SpoolBehindError extends Error {}

/** What waits in the spool: file names in order, and their bytes. */
export async function spoolBacklog(spool: string): Promise<{ files: string[]; bytes: number }> {
  const names = (await fs.readdir(spool).catch(() => [] as string[])).filter((n) => WAL_NAME.test(n)).sort();
  let bytes = 0;
  for (const n of names) bytes += (await fs.stat(path.join(spool, n)).catch(() => ({ size: 0 }))).size;
  return { files: names, bytes };
}

/**
 * Queues one WAL file. Already queued: nothing to do (PostgreSQL retried).
 * A spool beyond `maxBytes` refuses, so PostgreSQL keeps the segment in
 * pg_wal and retries, rather than anything being dropped.
 */
export async function spoolWal(file: string, spool: string, maxBytes = SPOOL_MAX_BYTES): Promise<'queued' | 'already queued'> {
  const name = path.basename(file);
  if (!WAL_NAME.test(name)) throw new Error(`${JSON.stringify(name)} is not a WAL file name`);
  const backlog = await spoolBacklog(spool);
  if (backlog.files.includes(name)) return 'already queued';
  if (backlog.bytes > maxBytes) {
    throw new SpoolBehindError(
      `WAL archiving is behind: the spool ${spool} holds ${backlog.files.length} files (${Math.round(backlog.bytes / 2 ** 20)} MiB); ` +
        `is wal-uploader running? ${name} stays in pg_wal until it catches up`,
    );
  }
  await fs.mkdir(spool, { recursive: true });
  const tmp = path.join(spool, `${name}.tmp`);
  await fs.copyFile(file, tmp);
  const handle = await fs.open(tmp, 'r+');
  await handle.sync(); // durable before PostgreSQL may recycle its copy
  await handle.close();
  await fs.rename(tmp, path.join(spool, name));
  return 'queued';
}
