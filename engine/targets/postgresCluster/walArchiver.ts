import { promises as fs, watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { stillHelper, writeHelperPid } from './helperPid';
import { pushWal } from './wal';

/**
 * Synchronous archiving without a process start per segment. PostgreSQL's
 * archive_command (`wal-archive.js`, a small program) links the segment into
 * `<data directory>/dbm_wal_archive/push/` and waits; this resident archiver
 * (started by the first archive_command, the repository opened once) stores
 * it as `repo wal-push` would, and answers:
 *
 *   push/<name>      a segment to store (a hard link to PostgreSQL's file, or a copy);
 *                    removed once answered (a segment gone without an answer is handed over again)
 *   <name>.done      stored: only now may the archive_command report success
 *   <name>.error     storing failed: the reason (PostgreSQL keeps the segment and retries)
 *   archiver.pid     the archiver's process (helperPid.ts)
 *
 * PostgreSQL archives one segment at a time, so the archiver does not wait to
 * be asked: segments PostgreSQL has marked ready (`pg_wal/archive_status/*.ready`,
 * complete and never rewritten) are stored ahead, several at once, and their
 * `.done` is there when the archive_command comes (pgBackRest's asynchronous
 * archive-push works the same way). It stops after a while with nothing to
 * store, or at once when its data directory is gone; the next
 * archive_command starts it again.
 *
 * It looks every few milliseconds while it stores, and backs off to
 * IDLE_POLL_MS when it stores nothing: a hand-over wakes it at once (a file
 * system watch on push/), and segments marked ready can wait that long. (At
 * 5 ms for ten idle minutes, each archiver cost ~7 % of a core.)
 */
export const WAL_ARCHIVE_DIR = 'dbm_wal_archive';
/** The longest pause between looks of an idle archiver. */
const IDLE_POLL_MS = 250;

export async function runArchiver(
  repo: Repository,
  cluster: string,
  opts: { queue: string; concurrency?: number; idleMs?: number; pollMs?: number; log?: (line: string) => void },
): Promise<void> {
  const { queue } = opts;
  const push = path.join(queue, 'push');
  const status = path.join(path.dirname(queue), 'pg_wal', 'archive_status');
  const concurrency = opts.concurrency ?? 4;
  const log = opts.log ?? (() => undefined);
  await fs.mkdir(push, { recursive: true, mode: 0o700 });
  const pidFile = path.join(queue, 'archiver.pid');
  await writeHelperPid(pidFile, process.pid);
  let ownedAt = Date.now();
  const inFlight = new Set<string>();
  const stored = new Set<string>(); // stored ahead; forgotten once PostgreSQL has archived them
  let lastWork = Date.now();
  const pollMs = opts.pollMs ?? 5;
  let pause = pollMs;
  const handOver = wakeOnChange(push);

  const store = (name: string, file: string, handedOver: boolean): void => {
    inFlight.add(name);
    lastWork = Date.now();
    void pushWal(repo, cluster, file)
      .then(
        async (outcome) => {
          stored.add(name);
          await fs.writeFile(path.join(queue, `${name}.done`), outcome);
        },
        async (err: unknown) => {
          log(`storing ${name} failed: ${describeError(err)}`);
          // a segment stored ahead that failed is simply tried again when it is handed over
          if (handedOver) await fs.writeFile(path.join(queue, `${name}.error`), describeError(err));
        },
      )
      .catch((err: unknown) => log(`answering for ${name} failed: ${describeError(err)}`))
      // letting go of a handed-over segment, answered or not, tells wal-archive to look (and hand it over again if unanswered)
      .then(() => (handedOver ? fs.rm(file, { force: true }) : undefined))
      .catch((err: unknown) => log(`letting go of ${name} failed: ${describeError(err)}`))
      .finally(() => {
        inFlight.delete(name);
        lastWork = Date.now();
      });
  };

  try {
    for (;;) {
      // what the archive_command handed over comes first
      const handed = (await fs.readdir(push).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
      for (const name of handed) {
        if (inFlight.has(name)) continue;
        if (stored.has(name) && (await fs.stat(path.join(queue, `${name}.done`)).then(() => true, () => false))) {
          await fs.rm(path.join(push, name), { force: true }); // stored ahead, answered already
          continue;
        }
        store(name, path.join(push, name), true);
      }
      // then what PostgreSQL will ask for next
      const ready = (await fs.readdir(status).catch(() => [] as string[]))
        .filter((f) => f.endsWith('.ready'))
        .map((f) => f.slice(0, -'.ready'.length))
        .sort();
      const readySet = new Set(ready);
      for (const name of stored) if (!readySet.has(name) && !handed.includes(name)) stored.delete(name);
      for (const name of ready) {
        if (inFlight.size >= concurrency) break;
        if (!inFlight.has(name) && !stored.has(name)) store(name, path.join(path.dirname(status), name), false);
      }
      const idle = inFlight.size === 0 && handed.length === 0;
      // one archiver per queue: should a second have started (say while this one's file was being
      // replaced), the one the file names goes on and this one stops once its segments are answered
      if (inFlight.size === 0 && Date.now() - ownedAt > 1000) {
        if (!(await stillHelper(pidFile))) {
          log('another archiver took over this queue: stopping');
          return;
        }
        ownedAt = Date.now();
      }
      if (idle && !(await fs.stat(queue).then(() => true, () => false))) {
        log('the data directory is gone: stopping');
        return;
      }
      if (idle && Date.now() - lastWork > (opts.idleMs ?? 10 * 60_000)) {
        if (await stillHelper(pidFile)) await fs.rm(pidFile, { force: true });
        log('idle: stopping');
        return;
      }
      pause = idle ? Math.min(pause * 2, Math.max(pollMs, IDLE_POLL_MS)) : pollMs;
      await handOver.wait(pause);
    }
  } finally {
    handOver.close();
  }
}

/** A pause that a change in `dir` cuts short (without a watch, where the file system offers none, just the pause). */
function wakeOnChange(dir: string): { wait(ms: number): Promise<void>; close(): void } {
  let wake: (() => void) | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, () => wake?.());
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = null;
  }
  return {
    wait: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve();
        }, ms);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
      }),
    close: () => watcher?.close(),
  };
}
