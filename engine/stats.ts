import type { SnapshotCheck } from './checker';
import { DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX, VERIFICATION_PREFIX } from './repository/layout';
import type { Repository } from './repository/repository';
import { listAll } from './storage/storage';

/** What the repository holds, from a listing of its objects (no data read). */
export interface RepositoryStats {
  bytes: number;
  objects: number;
  packs: number;
  packBytes: number;
  indexes: number;
  snapshots: number;
}

export async function repositoryStats(repo: Repository): Promise<RepositoryStats> {
  const all = await listAll(repo.storage, '');
  const under = (prefix: string) => all.filter((o) => o.key.startsWith(prefix));
  return {
    bytes: all.reduce((n, o) => n + o.size, 0),
    objects: all.length,
    packs: under(DATA_PREFIX).length,
    packBytes: under(DATA_PREFIX).reduce((n, o) => n + o.size, 0),
    indexes: under(INDEX_PREFIX).length,
    snapshots: under(SNAPSHOTS_PREFIX).length,
  };
}

/** Verification reports of the last `days` days (by their date folder) that did not pass. */
export async function failedVerifications(repo: Repository, days = 1): Promise<SnapshotCheck[]> {
  const since = new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
  const reports = (await listAll(repo.storage, VERIFICATION_PREFIX)).filter((o) => o.key.slice(VERIFICATION_PREFIX.length, VERIFICATION_PREFIX.length + 10) >= since);
  const failed: SnapshotCheck[] = [];
  for (const o of reports) {
    const report = await repo.getSealed<SnapshotCheck>(o.key, 'dbm-verification', 'verification report');
    if (!report.ok) failed.push(report);
  }
  return failed;
}
