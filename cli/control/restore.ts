import type { Command } from 'commander';
import { csv } from '../options';
import { apiTarget, call } from './client';
import { followJob } from './jobs';

/** `restore`: a restore job, of a backup job, a snapshot, or the latest backups. */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore a backup job, a snapshot, or the latest backups of targets')
    .option('--backup-id <job-id>', 'the backup job to restore')
    .option('--snapshot <id>', 'one snapshot (with one --targets)')
    .option('--targets <list>', 'which targets (default: all of the job)', csv)
    .option('--directory <path>', 'files: restore under this directory (default: <data>/restores/<job-id>)')
    .option('--original', 'files: restore back where they came from (overwrites)')
    .option('--database <name>', 'postgres: only this database')
    .option('--as <name>', 'postgres: restore under this new name')
    .option('--force', 'postgres: replace the existing database (loaded aside first, swapped when complete)')
    .option('--bucket <name>', 'minio: into this bucket')
    .option('--prefix <prefix>', 'minio: under this prefix')
    .option('--verify', 'verify the snapshots (read all data) before restoring')
    .option('--wait', 'follow the job to its end; exit 1 if it fails')
    .option('--verbose', 'with --wait, print the job log as it grows')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const api = apiTarget(cmd);
      const { directory, original, database, as, force, bucket, prefix } = opts;
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/restore/create', {
        backup_job_id: opts.backupId,
        snapshot: opts.snapshot,
        targets: opts.targets,
        destination: { directory, original, database, as, force, bucket, prefix },
        verify_before_restore: opts.verify === true,
      });
      await followJob(api, answer, opts);
    });
}
