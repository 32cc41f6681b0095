import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * The pid file of a resident helper (the WAL archiver, the WAL prefetcher):
 * how the small programs PostgreSQL runs find it, and how a helper learns
 * that another took its place. Written whole or not at all (a reader never
 * sees it empty and starts a second helper), and a helper whose file names
 * another stops, so one queue never has two.
 */

/** Writes `pid` into `file` atomically: a new file renamed over the old. */
export async function writeHelperPid(file: string, pid: number): Promise<void> {
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  await fs.writeFile(partial, String(pid));
  await fs.rename(partial, file);
}

/** The pid in `file`, when it names a live helper of this `queue` (a pid file copied along with a data directory, or a pid reused, does not). */
export async function liveHelper(file: string, queue: string): Promise<number | null> {
  const pid = Number(await fs.readFile(file, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  // a process that is dying or dead and not yet reaped reads as an empty command line
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline !== null) return cmdline.split('\0').includes(queue) ? pid : null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** False when `file` names another process: a helper started since has taken over this queue. */
export async function stillHelper(file: string, pid: number = process.pid): Promise<boolean> {
  const named = Number(await fs.readFile(file, 'utf8').catch(() => ''));
  return !Number.isInteger(named) || named <= 0 || named === pid;
}
