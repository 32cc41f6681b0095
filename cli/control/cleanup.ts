import type { Command } from 'commander';
import { UsageError } from '../exitCodes';
import { apiTarget, call } from './client';
import { followJob } from './jobs';

/** `cleanup`: retention by age, as a job (dry run unless --confirm). */
export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .description('forget snapshots older than a duration (per group, the newest always kept) and prune their data')
    .requiredOption('--older-than <duration>', 'e.g. 30d, 12w, 1y')
    .option('--dry-run', 'only say what would be removed (the default)')
    .option('--confirm', 'really remove')
    .option('--target <name>', 'only this target')
    .option('--wait', 'follow the job to its end')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      if (opts.dryRun && opts.confirm) throw new UsageError('--dry-run and --confirm exclude each other');
      const api = apiTarget(cmd);
      const answer = await call<{ job_id: string }>(api, 'POST', '/api/v1/cleanup', {
        older_than: opts.olderThan,
        dry_run: opts.confirm !== true,
        target: opts.target,
      });
      await followJob(api, answer, opts);
    });
}
