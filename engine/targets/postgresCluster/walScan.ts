import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { awaitedLater } from '../../concurrency';
import type { Repository } from '../../repository/repository';
import { findPgTool } from '../postgres/tools';
import { fetchWal } from './wal';

/**
 * What archived WAL says that recovery targets name: each commit's time and
 * transaction id, and each named restore point (`pg_create_restore_point`),
 * read with PostgreSQL's own `pg_waldump`, one segment at a time (fetched into
 * a private temporary directory, removed after). Segments never change once
 * archived, so what was read is remembered.
 */
export interface SegmentFacts {
  commits: { xid: string; at: Date; lsn: string }[];
  restorePoints: { name: string; lsn: string }[];
}

const remembered = new Map<string, SegmentFacts>();

export async function segmentFacts(repo: Repository, cluster: string, name: string, serverMajor: number): Promise<SegmentFacts> {
  const key = `${repo.config.id}/${cluster}/${name}`;
  const known = remembered.get(key);
  if (known) return known;
  const dir = mkdtempSync(path.join(tmpdir(), 'dbm-waldump-'));
  try {
    if (!(await fetchWal(repo, cluster, name, path.join(dir, name)))) return { commits: [], restorePoints: [] };
    const waldump = findPgTool('pg_waldump', serverMajor, undefined, true); // WAL's format is its major version's
    // read line by line as it prints (a busy segment is tens of MB of text), keeping only commits and restore points
    const facts: SegmentFacts = { commits: [], restorePoints: [] };
    const child = spawn(waldump.path, [path.join(dir, name)], { stdio: ['ignore', 'pipe', 'ignore'] });
    const closed = awaitedLater(new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      // it exits 1 at the zeroed tail of a switched segment: what it printed before is what counts
      child.on('close', () => resolve());
    }));
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      const lsn = /\blsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(line)?.[1];
      if (!lsn) continue;
      const commit = /^rmgr: Transaction .*\btx: +(\d+), .*desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (UTC|[+-]\d\d)/.exec(line);
      if (commit) {
        const zone = commit[3] === 'UTC' ? 'Z' : `${commit[3]}:00`;
        facts.commits.push({ xid: commit[1], at: new Date(`${commit[2].replace(' ', 'T')}${zone}`), lsn });
        continue;
      }
      const point = /^rmgr: XLOG .*desc: RESTORE_POINT (.*)$/.exec(line);
      if (point) facts.restorePoints.push({ name: point[1], lsn });
    }
    await closed;
    if (remembered.size > 10_000) remembered.clear();
    remembered.set(key, facts);
    return facts;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The newest commit in `segments` (in replay order), looking back at most `lookBack` segments from the end. */
export async function lastCommit(repo: Repository, cluster: string, segments: string[], serverMajor: number, lookBack = 16): Promise<Date | null> {
  for (const name of segments.slice(-lookBack).reverse()) {
    const commits = (await segmentFacts(repo, cluster, name, serverMajor)).commits;
    if (commits.length > 0) return commits[commits.length - 1].at;
  }
  return null;
}

/** The first record in `segments` (in replay order) that `match` picks: its LSN. */
export async function findInWal(repo: Repository, cluster: string, segments: string[], serverMajor: number, match: (facts: SegmentFacts) => string | undefined): Promise<string | null> {
  for (const name of segments) {
    const lsn = match(await segmentFacts(repo, cluster, name, serverMajor));
    if (lsn) return lsn;
  }
  return null;
}
