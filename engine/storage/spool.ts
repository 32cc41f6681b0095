import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Pack spool files: a pack is written to one before `Storage.putFile` stores
 * it. Their names keep a local repository's listings off them (local.ts's
 * TMP_MARK) and carry the writer's pid: in a temp directory shared with
 * other processes (S3's spool), that tells a killed writer's file, which
 * nobody else would ever remove, from a live one's.
 */
const PREFIX = 'dbm-pack.tmp-';
const NAME = /^dbm-pack\.tmp-(\d+)-[0-9a-f]{16}$/;
/**
 * A spool file touched this recently is never taken for a dead writer's:
 * its pid may be of another PID namespace sharing the directory.
 */
export const DEAD_SPOOL_MIN_AGE_MS = 15 * 60 * 1000;

/** A new spool file's name. */
export function spoolFileName(): string {
  return `${PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`;
}

/**
 * The spool files in a shared directory whose writer is gone — named as
 * ours, regular files (never a symlink) of this user, written by a process
 * no longer running and untouched for DEAD_SPOOL_MIN_AGE_MS — removed
 * unless `dryRun`. Anything else there is left alone.
 */
export async function clearDeadSpoolFiles(dir: string, dryRun: boolean): Promise<{ files: number; bytes: number }> {
  const left = { files: 0, bytes: 0 };
  const uid = process.getuid?.();
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const pid = Number(NAME.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || running(pid)) continue;
    const file = path.join(dir, name);
    const st = await fs.lstat(file).catch(() => null);
    if (!st?.isFile() || (uid !== undefined && st.uid !== uid) || Date.now() - st.mtimeMs < DEAD_SPOOL_MIN_AGE_MS) continue;
    left.files++;
    left.bytes += st.size;
    // unlink, not follow: and in a sticky temp directory no one else can swap a file of ours for something else
    if (!dryRun) await fs.rm(file, { force: true });
  }
  return left;
}

/** Whether a process with this pid runs (EPERM: it does, as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
