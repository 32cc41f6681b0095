import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BackupError, InvalidInputError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { restoreStream } from '../../restorer';
import { listSnapshots, type SnapshotRef } from '../../snapshot';
import { BASE_ENTRY, CLUSTER_TARGET, clusterMetaOf, type ClusterMeta } from './baseBackup';
import { withLock } from '../../repository/lock';
import { deleteWal, isSegment, listWal, parseLsn, parseSegmentName, segmentName, segmentOf, walHeader } from './wal';
import { findInWal, lastCommit } from './walScan';
import { WAL_ARCHIVE_DIR } from './walArchiver';
import { WAL_QUEUE_DIR } from './walQueue';

export interface BaseBackup {
  id: string;
  meta: ClusterMeta;
  ref: SnapshotRef;
}

export interface PitrWindow {
  cluster: string;
  baseBackups: { id: string; stoppedAt: string; timeline: number; startWal: string; stopWal: string }[];
  /** the earliest restorable moment: the end of the oldest base backup */
  earliest: string | null;
  /**
   * the latest moment a time target reaches: the last commit in the WAL reachable without a gap (read
   * with pg_waldump), or, when none can be read, when the last such segment was archived
   */
  latest: string | null;
  latestKind: 'last commit' | 'last archived segment' | 'newest base backup';
  latestSegment: string | null;
  /** runs of WAL segments missing from the archive, after the oldest base backup */
  gaps: { first: string; last: string; count: number; restorableUntil: string | null }[];
  walFiles: number;
}

export async function baseBackups(repo: Repository, cluster: string): Promise<BaseBackup[]> {
  const refs = await listSnapshots(repo, { target: CLUSTER_TARGET, tags: { cluster } });
  return refs
    .flatMap((r: SnapshotRef) => {
      const meta = clusterMetaOf(r);
      return meta ? [{ id: r.id, meta, ref: r }] : [];
    })
    .sort((a, b) => a.meta.stoppedAt.localeCompare(b.meta.stoppedAt));
}

/**
 * What the archive can restore: from the oldest base backup to the end of the
 * gapless WAL after it. `backups`, when the caller has listed them already.
 */
export async function pitrWindow(repo: Repository, cluster: string, backups?: BaseBackup[]): Promise<PitrWindow> {
  backups ??= await baseBackups(repo, cluster);
  const files = await listWal(repo, cluster);
  const window: PitrWindow = {
    cluster,
    baseBackups: backups.map((b) => ({ id: b.id, stoppedAt: b.meta.stoppedAt, timeline: b.meta.timeline, startWal: b.meta.startWal, stopWal: b.meta.stopWal })),
    earliest: backups[0]?.meta.stoppedAt ?? null,
    latest: backups.at(-1)?.meta.stoppedAt ?? null,
    latestKind: 'newest base backup',
    latestSegment: null,
    gaps: [],
    walFiles: files.length,
  };
  if (backups.length === 0) return window;
  const segSize = backups[0].meta.walSegmentSize;
  // A position counts as archived on the timeline of the newest base backup that started at or before it:
  // the line a restore follows. Timelines of promoted restores (archived here too) are branches, not the line.
  const present = new Set(files.filter(isSegment));
  const starts = backups.map((b) => ({ segno: parseSegmentName(b.meta.startWal, segSize).segno, timeline: b.meta.timeline })).sort((a, b) => (a.segno < b.segno ? -1 : 1));
  const timelineAt = (segno: bigint): number => starts.filter((s) => s.segno <= segno).at(-1)?.timeline ?? starts[0].timeline;
  const byPosition = new Map<bigint, string>();
  for (const name of present) {
    const { segno, timeline } = parseSegmentName(name, segSize);
    if (timeline === timelineAt(segno)) byPosition.set(segno, name);
  }
  const first = parseSegmentName(backups[0].meta.stopWal, segSize).segno + 1n;
  const last = [...byPosition.keys()].reduce((m, s) => (s > m ? s : m), first - 1n);
  let reachable: string | null = null;
  let gapStart: bigint | null = null;
  const line: string[] = []; // the segments a restore replays, in order, up to the first gap
  for (let segno = parseSegmentName(backups[0].meta.startWal, segSize).segno; segno < first; segno++) {
    const name = byPosition.get(segno);
    if (name) line.push(name);
  }
  for (let segno = first; segno <= last; segno++) {
    const name = byPosition.get(segno);
    if (name && gapStart === null && window.gaps.length === 0) line.push(name);
    if (name && gapStart !== null) {
      window.gaps.push({
        first: segmentName(timelineAt(gapStart), gapStart, segSize),
        last: segmentName(timelineAt(segno - 1n), segno - 1n, segSize),
        count: Number(segno - gapStart),
        restorableUntil: null,
      });
      gapStart = null;
    }
    if (!name && gapStart === null) gapStart = segno;
    if (name && window.gaps.length === 0) reachable = name;
  }
  // before the first gap, the window ends when the last segment before it was archived
  // (a backup taken after a gap starts a new window: its end is what counts then)
  const newestBackup = backups.at(-1)!.meta;
  const afterGapBackup = window.gaps.length > 0 && parseSegmentName(newestBackup.startWal, segSize).segno > parseSegmentName(window.gaps[0].last, segSize).segno;
  if (reachable && !afterGapBackup) {
    const major = parseInt(backups[0].meta.serverVersion, 10);
    const commit = await lastCommit(repo, cluster, line, major).catch(() => null); // no pg_waldump of that version here
    if (commit) {
      window.latest = commit.toISOString();
      window.latestKind = 'last commit';
    } else {
      const pushed = (await walHeader(repo, cluster, reachable)).pushedAt;
      if (pushed > (window.latest ?? '')) [window.latest, window.latestKind] = [pushed, 'last archived segment'];
    }
    window.latestSegment = reachable;
  }
  LINES.set(window, line);
  for (const gap of window.gaps) gap.restorableUntil = window.latest;
  return window;
}

/** The segments a restore of a window replays (kept beside the window, not in it: it is printed and scraped). */
const LINES = new WeakMap<PitrWindow, string[]>();

export type RecoveryTarget = { time: Date } | { lsn: string } | { latest: true } | { name: string } | { xid: string };

export interface ClusterRestoreOptions {
  target: RecoveryTarget;
  /** a new, empty (or missing) data directory */
  to: string;
  /** the restore_command PostgreSQL runs to fetch WAL (%f, %p), e.g. this program's `repo wal-fetch` */
  restoreCommand: string;
  /** a system user to own the restored directory (PostgreSQL refuses to run as root) */
  owner?: string;
  /** which timeline to follow: the base backup's ('current', the default), 'latest', or a number */
  timeline?: 'current' | 'latest' | number;
}

export interface ClusterRestoreResult {
  baseBackup: string;
  to: string;
  target: string;
  bytes: number;
}

/**
 * Restores a cluster to a moment: picks the newest base backup that ended
 * before the target, unpacks it, and writes the recovery settings, so that
 * starting it replays archived WAL up to the target and promotes. A target
 * the archive cannot reach (before every base backup, past a gap, past the
 * last archived WAL) is refused here, before anything is written.
 */
export async function restoreCluster(repo: Repository, cluster: string, opts: ClusterRestoreOptions): Promise<ClusterRestoreResult> {
  const backups = await baseBackups(repo, cluster);
  if (backups.length === 0) throw new InvalidInputError(`no base backup of cluster ${cluster} in the repository`);
  const window = await pitrWindow(repo, cluster, backups);
  const segSize = backups[0].meta.walSegmentSize;
  const t = opts.target;
  let recoverTo: RecoveryTarget = t; // what the recovery settings say: a time target past the last commit becomes latest
  let chosen: BaseBackup | undefined;
  let described: string;
  if ('time' in t) {
    described = t.time.toISOString();
    chosen = [...backups].reverse().find((b) => Date.parse(b.meta.stoppedAt) < t.time.getTime());
    if (!chosen) throw new InvalidInputError(`no base backup of cluster ${cluster} ended before ${described}; the earliest restorable moment is ${window.earliest}`);
    if (window.latest && window.latestKind === 'last commit' && window.gaps.length === 0 && t.time.getTime() >= Date.parse(window.latest)) {
      // PostgreSQL stops at the first commit after a time target and fails when there is none: from the
      // last archived commit on, the state at the target is everything archived
      described = `${described} (at or after the last archived commit, ${window.latest}: everything archived)`;
      recoverTo = { latest: true };
    } else if (window.latest && t.time.getTime() > Date.parse(window.latest)) {
      const why = window.gaps.length ? `WAL is missing from ${window.gaps[0].first}` : 'that is when the last WAL segment was archived';
      throw new InvalidInputError(`cluster ${cluster} is restorable up to ${window.latest} (${why}); ${described} is past it`);
    }
  } else if ('name' in t || 'xid' in t) {
    // where in the WAL the restore point is, or the transaction committed: the base backup must end before it
    described = 'name' in t ? `restore point ${JSON.stringify(t.name)}` : `transaction ${t.xid}`;
    const major = parseInt(backups[0].meta.serverVersion, 10);
    const lsn = await findInWal(repo, cluster, LINES.get(window) ?? [], major, (facts) =>
      'name' in t ? facts.restorePoints.find((p) => p.name === t.name)?.lsn : facts.commits.find((c) => c.xid === t.xid)?.lsn,
    );
    if (!lsn) {
      throw new InvalidInputError(
        'name' in t
          ? `no restore point ${JSON.stringify(t.name)} in the archived WAL of cluster ${cluster} (made with pg_create_restore_point, after a base backup)`
          : `transaction ${t.xid} did not commit in the archived WAL of cluster ${cluster} after a base backup`,
      );
    }
    chosen = [...backups].reverse().find((b) => parseLsn(b.meta.stopLsn) <= parseLsn(lsn));
    if (!chosen) throw new InvalidInputError(`${described} (at ${lsn}) is before every base backup of cluster ${cluster} ended`);
  } else if ('lsn' in t) {
    described = t.lsn;
    const lsn = parseLsn(t.lsn);
    chosen = [...backups].reverse().find((b) => parseLsn(b.meta.stopLsn) <= lsn);
    if (!chosen) throw new InvalidInputError(`no base backup of cluster ${cluster} ended before LSN ${t.lsn}`);
    const gap = window.gaps.find((g) => parseSegmentName(g.first, segSize).segno <= segmentOf(lsn, segSize));
    if (gap && parseSegmentName(gap.first, segSize).segno > parseSegmentName(chosen.meta.stopWal, segSize).segno) {
      throw new InvalidInputError(`LSN ${t.lsn} is past missing WAL (${gap.first} … ${gap.last}): cluster ${cluster} is restorable up to ${gap.restorableUntil}`);
    }
  } else {
    described = 'latest';
    chosen = backups.at(-1)!;
    const gap = window.gaps.find((g) => parseSegmentName(g.first, segSize).segno > parseSegmentName(chosen!.meta.stopWal, segSize).segno);
    if (gap) {
      throw new InvalidInputError(
        `WAL segments ${gap.first} … ${gap.last} (${gap.count}) are missing from the archive of cluster ${cluster}: ` +
          `the latest state cannot be reached; restore to a time up to ${gap.restorableUntil} (--target-time)`,
      );
    }
  }

  const to = path.resolve(opts.to);
  const existing = await fs.readdir(to).catch(() => null);
  if (existing && existing.length > 0) throw new InvalidInputError(`${to} is not empty: restore a cluster into a new directory`);
  await fs.mkdir(to, { recursive: true, mode: 0o700 });
  await fs.chmod(to, 0o700);
  const bytes = await untar(repo, chosen.ref, to);
  // the source's hand-over folders came with the base backup: they belong to its archiver and prefetcher, not this cluster
  for (const own of [WAL_ARCHIVE_DIR, WAL_QUEUE_DIR]) await fs.rm(path.join(to, own), { recursive: true, force: true });

  // Recovery settings: replay archived WAL to the target, then promote (a new timeline).
  const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const settings = [
    '',
    `# data-backup-manager: point-in-time recovery of cluster ${cluster} from base backup ${chosen.id.slice(0, 12)} (${new Date().toISOString()})`,
    `restore_command = ${quote(opts.restoreCommand)}`,
    // PostgreSQL's timestamptz input, not ISO 8601's "T…Z" (which recovery_target_time refuses)
    ...('time' in recoverTo ? [`recovery_target_time = ${quote(recoverTo.time.toISOString().replace('T', ' ').replace('Z', '+00'))}`] : []),
    ...('lsn' in recoverTo ? [`recovery_target_lsn = ${quote(recoverTo.lsn)}`] : []),
    ...('name' in recoverTo ? [`recovery_target_name = ${quote(recoverTo.name)}`] : []),
    ...('xid' in recoverTo ? [`recovery_target_xid = ${quote(recoverTo.xid)}`] : []),
    "recovery_target_action = 'promote'",
    // The base backup's own timeline, unless asked otherwise: restores of this cluster that were promoted
    // archive their new timelines here too, and 'latest' would follow one of those branches instead.
    `recovery_target_timeline = ${quote(String(opts.timeline ?? 'current'))}`,
    '',
  ];
  await fs.appendFile(path.join(to, 'postgresql.auto.conf'), settings.join('\n'));
  await fs.writeFile(path.join(to, 'recovery.signal'), '');
  await fs.rm(path.join(to, 'postmaster.pid'), { force: true });
  if (opts.owner) {
    const res = spawnSync('chown', ['-R', `${opts.owner}:`, to], { encoding: 'utf8' });
    if (res.status !== 0) throw new BackupError(`cannot give ${to} to ${opts.owner}: ${res.stderr.trim()}`);
  }
  return { baseBackup: chosen.id, to, target: described, bytes };
}

/** Unpacks the base backup's tar into `to`, streamed from the repository into tar. */
async function untar(repo: Repository, ref: SnapshotRef, to: string): Promise<number> {
  const tar = spawn('tar', ['-x', '-f', '-', '-C', to], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  tar.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.on('error', (err) => reject(new BackupError(`cannot run tar (${err.message})`)));
    tar.on('close', resolve);
  });
  let bytes: number;
  try {
    bytes = await restoreStream(repo, ref, BASE_ENTRY, tar.stdin);
    tar.stdin.end();
  } catch (err) {
    tar.kill('SIGTERM');
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new BackupError(`tar could not unpack the base backup into ${to}: ${stderr.trim().slice(-500)}`);
  return bytes;
}

export interface PitrRetentionResult {
  kept: string[];
  forgotten: string[];
  walDeleted: number;
  walKept: number;
  /** the earliest restorable moment once applied */
  earliest: string | null;
}

/**
 * Retention for point-in-time recovery: keeps every base backup that ended
 * within the window, plus the newest one that ended before it (the window's
 * first moments need it), and the WAL from the oldest kept backup's start on;
 * forgets the other base backups and deletes older WAL. History files stay
 * (they are tiny, and every later timeline's recovery reads them).
 */
export async function pitrRetention(repo: Repository, cluster: string, opts: { windowMs: number; dryRun?: boolean; now?: Date }): Promise<PitrRetentionResult> {
  const run = async (): Promise<PitrRetentionResult> => {
    const backups = await baseBackups(repo, cluster);
    if (backups.length === 0) throw new InvalidInputError(`cluster ${cluster} has no base backup: nothing says which WAL is needed, so nothing is deleted`);
    const cutoff = (opts.now ?? new Date()).getTime() - opts.windowMs;
    const before = backups.filter((b) => Date.parse(b.meta.stoppedAt) < cutoff);
    const anchor = before.at(-1) ?? backups[0];
    const kept = backups.filter((b) => b === anchor || Date.parse(b.meta.stoppedAt) >= cutoff);
    const forgotten = backups.filter((b) => !kept.includes(b));
    const segSize = anchor.meta.walSegmentSize;
    const oldest = parseSegmentName(kept[0].meta.startWal, segSize).segno;
    const files = await listWal(repo, cluster);
    const doomed = files.filter((f) => !f.endsWith('.history') && parseSegmentName(f.slice(0, 24), segSize).segno < oldest);
    if (!opts.dryRun) {
      for (const b of forgotten) await repo.storage.delete(b.ref.key);
      await deleteWal(repo, cluster, doomed);
    }
    return { kept: kept.map((b) => b.id), forgotten: forgotten.map((b) => b.id), walDeleted: doomed.length, walKept: files.length - doomed.length, earliest: kept[0].meta.stoppedAt };
  };
  return opts.dryRun ? run() : withLock(repo, { exclusive: true, operation: 'pitr-retention' }, run);
}
