import { withLock } from './repository/lock';
import type { Repository } from './repository/repository';
import { applyPolicy, type Decision, type RetentionPolicy } from './retention';
import { listSnapshots, type SnapshotRef } from './snapshot';

export type GroupKey = 'target' | 'tags' | 'host' | 'paths';

/**
 * A snapshot's group is its source: the target, what it read (paths: the file set, the databases'
 * dumps, the buckets) and the tags that name a source (cluster=, scenario=, env=…).
 */
export const DEFAULT_GROUP_BY: GroupKey[] = ['target', 'paths', 'tags'];

/**
 * Tags that describe the run that made a snapshot, not its source: never part of a group. Every
 * snapshot made through the API carries job=<id>; grouping by it made each snapshot a group of one,
 * which "always keep a group's newest" then kept forever.
 */
export const RUN_TAGS: ReadonlySet<string> = new Set(['job']);

export interface ForgetOptions {
  policy: RetentionPolicy;
  /** default: DEFAULT_GROUP_BY */
  groupBy?: GroupKey[];
  /** only snapshots of this target */
  target?: string;
  dryRun?: boolean;
  lockWaitMs?: number;
}

export type ForgetDecision = Decision<{ id: string; time: string; group: string; ref: SnapshotRef }>;

/**
 * Applies a keep-policy and deletes the snapshot manifests it does not keep.
 * Their data stays until prune; a snapshot is gone the moment its manifest is.
 */
export async function forgetSnapshots(repo: Repository, opts: ForgetOptions): Promise<ForgetDecision[]> {
  const groupBy = opts.groupBy ?? DEFAULT_GROUP_BY;
  const run = async (): Promise<ForgetDecision[]> => {
    const refs = await listSnapshots(repo, { target: opts.target });
    const items = refs.map((ref) => ({ id: ref.id, time: ref.snapshot.time, group: groupOf(ref, groupBy), ref }));
    const decisions = applyPolicy(items, opts.policy);
    if (!opts.dryRun) {
      for (const d of decisions) if (!d.keep) await repo.storage.delete(d.item.ref.key);
    }
    return decisions;
  };
  if (opts.dryRun) return run();
  return withLock(repo, { exclusive: true, operation: 'forget', waitMs: opts.lockWaitMs }, run);
}

export function groupOf(ref: SnapshotRef, groupBy: GroupKey[]): string {
  const s = ref.snapshot;
  const parts: string[] = [];
  for (const key of groupBy) {
    if (key === 'target') parts.push(`target=${s.target}`);
    if (key === 'host') parts.push(`host=${s.hostname}`);
    if (key === 'paths') parts.push(`paths=${[...s.paths].sort().join(',')}`);
    if (key === 'tags') {
      const tags = Object.entries(s.tags)
        .filter(([k]) => !RUN_TAGS.has(k))
        .sort(([a], [b]) => (a < b ? -1 : 1));
      parts.push(`tags=${tags.map(([k, v]) => `${k}=${v}`).join(',')}`);
    }
  }
  return parts.join(' ');
}
