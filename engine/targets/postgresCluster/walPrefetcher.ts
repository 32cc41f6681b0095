import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { stillHelper, writeHelperPid } from './helperPid';
import { fetchWal, isSegment, listWal, parseSegmentName, segmentName } from './wal';

export interface PrefetchOptions {
  /** the queue directory (`<data directory>/dbm_wal_queue`, see walQueue.ts) */
  queue: string;
  /** how much WAL to keep ready ahead of the newest segment asked for (bounded disk; default 256 MiB, at least 8 segments) */
  aheadBytes?: number;
  /** fetches at a time */
  concurrency?: number;
  /** stop when nothing was asked for this long */
  idleMs?: number;
  pollMs?: number;
  log?: (line: string) => void;
}

/**
 * The prefetcher behind the restore_command: opens the repository once and
 * keeps the next segments of the timeline being replayed fetched, checked and
 * written into the queue, several at a time, so PostgreSQL's replay never waits
 * for a process start, a key derivation or a round trip (pgBackRest's
 * asynchronous archive-get, WAL-G's prefetch). A file the archive does not
 * have is answered as missing; a fetch that fails is answered with its reason.
 * It ends, removing the queue, a few seconds after the cluster is promoted
 * (no recovery.signal or standby.signal left), or when nothing was asked for a while.
 */
export async function runPrefetcher(repo: Repository, cluster: string, opts: PrefetchOptions): Promise<void> {
  const { queue } = opts;
  const aheadBytes = opts.aheadBytes ?? 256 * 1024 * 1024;
  let ahead = 16; // segments, until the first one says how big they are
  let segmentSize = 0;
  const concurrency = opts.concurrency ?? 4;
  const idleMs = opts.idleMs ?? 60_000;
  const pollMs = opts.pollMs ?? 20;
  const log = opts.log ?? (() => undefined);
  const want = path.join(queue, 'want');
  const took = path.join(queue, 'took');
  const dataDir = path.dirname(queue);
  await fs.mkdir(want, { recursive: true, mode: 0o700 });
  await fs.mkdir(took, { recursive: true, mode: 0o700 });
  const pidFile = path.join(queue, 'prefetcher.pid');
  await writeHelperPid(pidFile, process.pid);
  let ownedAt = Date.now();

  let archived = await listWal(repo, cluster);
  let listedAt = Date.now();
  const wanted = new Set<string>();
  const inFlight = new Set<string>();
  let lastAsked = Date.now();

  /** The segments after `name` on its timeline, as far as the archive has them. */
  const aheadOf = (name: string): string[] => {
    if (!isSegment(name)) return [];
    const timeline = name.slice(0, 8);
    return archived.filter((n) => isSegment(n) && n.startsWith(timeline) && n > name).slice(0, ahead);
  };

  // started before PostgreSQL (recoverCluster does): the base backup's first segment is what replay asks for first
  const label = await fs.readFile(path.join(dataDir, 'backup_label'), 'utf8').catch(() => '');
  const first = /^START WAL LOCATION: .* \(file ([0-9A-F]{24})\)$/m.exec(label)?.[1];
  let window: string[] = first ? [first, ...aheadOf(first)].slice(0, ahead) : [];
  let replayed = first ?? ''; // the newest segment asked for or taken

  // fetched once into the queue: the window does not fetch them again once replay took them (a request still does)
  const fetched = new Set<string>();
  const refill = (): void => {
    for (const name of window) {
      if (inFlight.size >= concurrency) return;
      if (!inFlight.has(name) && !fetched.has(name)) fetch(name);
    }
  };

  const fetch = (name: string): void => {
    inFlight.add(name);
    void fetchWal(repo, cluster, name, path.join(queue, name))
      .then(
        async (found) => {
          if (found) {
            if (fetched.size === 0) {
              const size = (await fs.stat(path.join(queue, name)).catch(() => ({ size: 0 }))).size;
              if (size > 0) {
                ahead = Math.max(8, Math.min(1024, Math.floor(aheadBytes / size)));
                segmentSize = size;
              }
            }
            fetched.add(name);
            wanted.delete(name); // answered by the file itself
          } else if (wanted.delete(name)) await fs.writeFile(path.join(queue, `${name}.missing`), '');
        },
        async (err: unknown) => {
          log(`fetching ${name} failed: ${describeError(err)}`);
          if (wanted.delete(name)) await fs.writeFile(path.join(queue, `${name}.error`), describeError(err));
        },
      )
      .catch((err: unknown) => log(`answering for ${name} failed: ${describeError(err)}`))
      .finally(() => {
        inFlight.delete(name);
        refill(); // at once, not at the next tick: replay may be waiting
      });
  };

  /**
   * The end of the archive, answered ahead of the question: replay asks for the segment after the
   * last one, and for the history file of the next timeline, and both are missing. Marking them
   * lets the restore_command answer in the shell, without a process of ours.
   */
  const marked = new Set<string>();
  const markEnd = async (): Promise<void> => {
    const last = window.at(-1) ?? replayed;
    if (!segmentSize || window.length >= ahead || !isSegment(last)) return;
    const { timeline, segno } = parseSegmentName(last, segmentSize);
    const ends = [segmentName(timeline, segno + 1n, segmentSize), `${(timeline + 1).toString(16).toUpperCase().padStart(8, '0')}.history`];
    if (ends.every((e) => marked.has(e))) return;
    archived = await listWal(repo, cluster); // just now: is it really the end?
    listedAt = Date.now();
    for (const end of ends) {
      if (marked.has(end)) continue;
      marked.add(end);
      if (!archived.includes(end)) await fs.writeFile(path.join(queue, `${end}.missing`), '');
    }
  };

  for (;;) {
    const asked = await fs.readdir(want).catch(() => [] as string[]);
    for (const name of asked) {
      await fs.rm(path.join(want, name), { force: true });
      wanted.add(name);
      lastAsked = Date.now();
    }
    // files the restore_command took ready from the queue: replay moved on
    const taken = await fs.readdir(took).catch(() => [] as string[]);
    for (const name of taken) await fs.rm(path.join(took, name), { force: true });
    if (taken.length > 0) lastAsked = Date.now();
    const present = new Set(await fs.readdir(queue).catch(() => [] as string[]));
    if (asked.length > 0 || taken.length > 0) {
      const newest = [...asked, ...taken].filter(isSegment).sort().at(-1);
      if (newest) {
        replayed = newest;
        window = aheadOf(newest);
        // bounded disk: what is neither asked for nor ahead of the replay goes (a timeline switch leaves such files)
        const keep = new Set([...wanted, ...window]);
        for (const f of present) if (isSegment(f) && !keep.has(f) && !inFlight.has(f)) await fs.rm(path.join(queue, f), { force: true });
      }
    }
    for (const name of wanted) {
      if (present.has(name)) {
        wanted.delete(name); // ready; the restore_command takes it
        continue;
      }
      if (inFlight.has(name)) continue;
      if (!archived.includes(name) && Date.now() - listedAt > 1000) {
        archived = await listWal(repo, cluster); // the archive may have grown
        listedAt = Date.now();
      }
      if (archived.includes(name)) fetch(name);
      else {
        wanted.delete(name);
        await fs.writeFile(path.join(queue, `${name}.missing`), '');
      }
    }
    refill();
    await markEnd();
    // PostgreSQL removes the signal file as recovery ends, then still asks for timeline history files: a short grace
    const recovering = existsSync(path.join(dataDir, 'recovery.signal')) || existsSync(path.join(dataDir, 'standby.signal'));
    // one prefetcher per queue: a second one started meanwhile stops as soon as it has nothing in flight
    if (inFlight.size === 0 && Date.now() - ownedAt > 1000) {
      if (!(await stillHelper(pidFile))) {
        log('another prefetcher took over this queue: stopping');
        return;
      }
      ownedAt = Date.now();
    }
    if (inFlight.size === 0 && Date.now() - lastAsked > (recovering ? idleMs : 5000)) {
      log(recovering ? 'idle: stopping' : 'the cluster is promoted: removing the queue');
      await fs.rm(queue, { recursive: true, force: true });
      return;
    }
    await sleep(pollMs);
  }
}
