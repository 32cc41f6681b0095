import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { pushWal } from './wal';

/**
 * Synchronous archiving without a process start per segment. PostgreSQL's
 * archive_command (`wal-archive.js`, a small program) links the segment into
 * `<data directory>/dbm_wal_archive/push/` and waits; this resident archiver
 * (started by the first archive_command, the repository opened once) stores
 * it as `repo wal-push` would, and answers:
 *
 *   push/<name>      a segment to store (a hard link to PostgreSQL's file, or a copy)
 *   <name>.done      stored: only now may the archive_command report success
 *   <name>.error     storing failed: the reason (PostgreSQL keeps the segment and retries)
 *   archiver.pid     the archiver's process
 *
 * It stops after a while with nothing to store; the next archive_command starts it again.
 */
export const WAL_ARCHIVE_DIR = 'dbm_wal_archive';

export async function runArchiver(repo: Repository, cluster: string, opts: { queue: string; idleMs?: number; pollMs?: number; log?: (line: string) => void }): Promise<void> {
  const { queue } = opts;
  const push = path.join(queue, 'push');
  const log = opts.log ?? (() => undefined);
  await fs.mkdir(push, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(queue, 'archiver.pid'), String(process.pid));
  let lastWork = Date.now();
  for (;;) {
    const names = (await fs.readdir(push).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
    for (const name of names) {
      const file = path.join(push, name);
      try {
        const outcome = await pushWal(repo, cluster, file);
        await fs.writeFile(path.join(queue, `${name}.done`), outcome);
      } catch (err) {
        log(`storing ${name} failed: ${describeError(err)}`);
        await fs.writeFile(path.join(queue, `${name}.error`), describeError(err));
      }
      await fs.rm(file, { force: true });
      lastWork = Date.now();
    }
    if (names.length === 0 && Date.now() - lastWork > (opts.idleMs ?? 10 * 60_000)) {
      await fs.rm(path.join(queue, 'archiver.pid'), { force: true });
      log('idle: stopping');
      return;
    }
    if (names.length === 0) await sleep(opts.pollMs ?? 5);
  }
}
