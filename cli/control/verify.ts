import type { Command } from 'commander';
import { UsageError } from '../exitCodes';
import { wholeNumber } from '../options';
import { apiTarget, call } from './client';
import { followJob } from './jobs';

/** `verify [id]`: a verification job. */
export function registerVerify(program: Command): void {
  program
    .command('verify [id]')
    .description('verify a backup job or snapshot; or the latest backup of a target (--target T --latest)')
    .option('--target <name>', 'the target (with --latest)')
    .option('--latest', 'the latest backup of --target')
    .option('--mode <mode>', 'read-data (every blob), structure, or subset', 'read-data')
    .option('--percent <n>', 'with --mode subset: the share read', wholeNumber('--percent'))
    .option('--restore-test', 'postgres: also restore into a scratch database and compare row counts')
    .option('--wait', 'follow the job to its end; exit 1 if verification fails')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, opts: Record<string, unknown>, cmd: Command) => {
      if (!id && !opts.latest) throw new UsageError('give a backup job id or snapshot id, or --target <name> --latest');
      if (id && opts.latest) throw new UsageError('give an id or --latest, not both');
      const api = apiTarget(cmd);
      const answer = await call<{ job_id: string }>(api, 'POST', `/api/v1/backup/verify/${encodeURIComponent(id ?? 'latest')}`, {
        mode: opts.mode,
        percent: opts.percent,
        restore_test: opts.restoreTest === true ? true : undefined,
        target: opts.target,
      });
      await followJob(api, answer, opts);
    });
}
