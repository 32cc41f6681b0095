import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { liveHelper } from './helperPid';

/**
 * The local WAL queue between PostgreSQL's restore_command and the prefetcher.
 * It lives in the restored cluster's data directory (restore_command runs
 * there, as the cluster's user; nobody else can reach it), and only the file
 * system is used here, so the restore_command (`wal-get.js`) starts in
 * milliseconds:
 *
 *   want/<name>       restore_command asks for a file
 *   took/<name>       restore_command took a ready file (replay moved on: fetch further ahead)
 *   <name>            the prefetcher fetched it (checked, written whole, then renamed into place)
 *   <name>.missing    the archive does not have it (the end of the WAL, or a timeline's history not written)
 *   <name>.error      fetching failed: the reason (restore_command then aborts recovery, never ends it early)
 *   prefetcher.pid    the prefetcher's process
 */
export const WAL_QUEUE_DIR = 'dbm_wal_queue';

export type QueueAnswer = { kind: 'ready' } | { kind: 'missing' } | { kind: 'error'; message: string } | { kind: 'none' };

/** What the queue says about `name` now; a ready file is moved to `dest` (copied when on another file system). */
export async function takeFromQueue(queue: string, name: string, dest: string): Promise<QueueAnswer> {
  const file = path.join(queue, name);
  try {
    await fs.rename(file, dest);
    return { kind: 'ready' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') {
      await fs.copyFile(file, `${dest}.dbm-partial`);
      await fs.rename(`${dest}.dbm-partial`, dest);
      await fs.rm(file, { force: true });
      return { kind: 'ready' };
    }
    if (code !== 'ENOENT') throw err;
  }
  if (await fs.rm(`${file}.missing`).then(() => true, () => false)) return { kind: 'missing' };
  const error = await fs.readFile(`${file}.error`, 'utf8').catch(() => null);
  if (error !== null) {
    await fs.rm(`${file}.error`, { force: true });
    return { kind: 'error', message: error };
  }
  return { kind: 'none' };
}

export async function requestFromQueue(queue: string, name: string): Promise<void> {
  await fs.mkdir(path.join(queue, 'want'), { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(queue, 'want', name), '');
}

/** Tells the prefetcher that replay took `name`, so it fetches further ahead. */
export async function noteTaken(queue: string, name: string): Promise<void> {
  await fs.mkdir(path.join(queue, 'took'), { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(queue, 'took', name), '');
}

/** The prefetcher's pid, when one is running for this queue. */
export function prefetcherAlive(queue: string): Promise<number | null> {
  return liveHelper(path.join(queue, 'prefetcher.pid'), queue);
}
