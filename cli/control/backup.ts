import type { Command } from 'commander';
import { csv, wholeNumber } from '../options';
import { apiTarget, call } from './client';
import { followJob } from './jobs';
import { sourceFields, targetList, withSourceOptions } from './sources';

/** `backup <targets>`: a backup job now, through the API. */
export function registerBackup(program: Command): void {
  withSourceOptions(program
    .command('backup <targets>'))
    .description(`back up targets now (comma-separated: ${targetList()})`)
    .option('--type <type>', 'full, incremental or differential', 'incremental')
    .option('--retention-days <n>', 'after the backup, forget snapshots older than this many days', wholeNumber('--retention-days'))
    .option('--description <text>', 'what this backup is for')
    .option('--wait', 'follow the job to its end; exit 1 if it fails')
    .option('--verbose', 'with --wait, print the job log as it grows')
    .option('--json', 'print JSON')
    .action(async (targets: string, opts: Record<string, unknown>, cmd: Command) => {
      const api = apiTarget(cmd);
      // fields left undefined are left out of the JSON body
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/backup/create', {
        type: opts.type,
        targets: csv(targets),
        retention_days: opts.retentionDays,
        description: opts.description,
        ...sourceFields(opts),
      });
      await followJob(api, answer, opts);
    });
}
