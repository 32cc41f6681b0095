import { describeError } from '../errors';
import type { SnapshotRef } from '../snapshot';

export * from './registry';

/** One target of a multi-target run, and what came of it. */
export interface TargetOutcome {
  target: string;
  ok: boolean;
  snapshots: SnapshotRef[];
  error?: string;
}

/**
 * Runs several targets' backups one after another. A target that fails
 * writes no snapshot and is reported; the others still complete.
 */
export async function backupTargets(jobs: { target: string; run: () => Promise<SnapshotRef[]> }[]): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  for (const job of jobs) {
    try {
      outcomes.push({ target: job.target, ok: true, snapshots: await job.run() });
    } catch (err) {
      outcomes.push({ target: job.target, ok: false, snapshots: [], error: describeError(err) });
    }
  }
  return outcomes;
}

export * from './files';
export * from './minio';
export * from './scenarios';
export * from './postgres/backup';
export * from './postgres/connection';
export * from './postgres/databaseProperties';
export * from './postgres/restore';
export { findPgTool } from './postgres/tools';
export * from './postgresCluster';
