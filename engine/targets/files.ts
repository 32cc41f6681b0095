import * as path from 'node:path';
import { backupTree, type BackupOptions } from '../archiver';
import type { Repository } from '../repository/repository';
import { restoreTree, type RestoreProgress } from '../restorer';
import type { SnapshotRef } from '../snapshot';
import { verifyRestoredTree, type TreeVerification } from '../verify';

export interface FilesBackupOptions extends Omit<BackupOptions, 'target'> {
  target?: string;
}

export interface FilesRestoreOptions {
  /** restore under this directory; default: each path back where it was backed up from */
  to?: string;
  /** glob patterns over snapshot paths (`root/sub/file`) */
  include?: string[];
  /** check the restored files against the snapshot afterwards */
  verify?: boolean;
  lockWaitMs?: number;
}

export interface FilesRestoreResult extends RestoreProgress {
  locations: string[];
  verification?: TreeVerification;
}

/** One or more paths into one snapshot (target `files`). */
export function backupFiles(repo: Repository, paths: string[], opts: FilesBackupOptions = {}): Promise<SnapshotRef> {
  return backupTree(repo, paths, { ...opts, target: opts.target ?? 'files' });
}

/**
 * Restores a files snapshot under `to`, or, without `to`, each backed-up path
 * to where it came from.
 */
export async function restoreFiles(repo: Repository, ref: SnapshotRef, opts: FilesRestoreOptions = {}): Promise<FilesRestoreResult> {
  const result: FilesRestoreResult = { files: 0, dirs: 0, bytesWritten: 0, locations: [] };
  const places = opts.to
    ? [{ dir: opts.to, include: opts.include ?? [] }]
    : ref.snapshot.paths.map((original) => {
        const base = path.basename(original) || 'root';
        const mine = (opts.include ?? []).filter((p) => p === base || p.startsWith(`${base}/`));
        return { dir: path.dirname(original), include: opts.include?.length ? mine : [base] };
      });
  const problems: TreeVerification['problems'] = [];
  for (const place of places) {
    if (opts.include?.length && place.include.length === 0) continue;
    await restoreTree(repo, ref, place.dir, { include: place.include, lockWaitMs: opts.lockWaitMs, progress: result });
    result.locations.push(place.dir);
    if (opts.verify) {
      const v = await verifyRestoredTree(repo, ref, place.dir, { include: place.include });
      problems.push(...v.problems);
      result.verification = {
        ok: problems.length === 0,
        files: (result.verification?.files ?? 0) + v.files,
        bytes: (result.verification?.bytes ?? 0) + v.bytes,
        problems,
      };
    }
  }
  return result;
}
