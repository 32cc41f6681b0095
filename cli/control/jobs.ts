import type { Command } from 'commander';
import { formatBytes, formatDurationMs, printJson, table } from '../output';
import { apiTarget, assertSucceeded, call, waitForJob, type ApiTarget, type JobView } from './client';

/** What a command that started a job does next: print its id, or follow it to its end with --wait. */
export async function followJob(api: ApiTarget, answer: { job_id: string } & Record<string, unknown>, opts: { wait?: boolean; json?: boolean; verbose?: boolean }): Promise<void> {
  if (!opts.wait) {
    if (opts.json) printJson(answer);
    else process.stdout.write(`job ${answer.job_id} queued (follow it: data-backup-manager jobs show ${answer.job_id})\n`);
    return;
  }
  if (!opts.json) process.stderr.write(`job ${answer.job_id} queued\n`);
  const job = await waitForJob(api, answer.job_id, { verbose: opts.verbose });
  if (opts.json) printJson(job);
  else printJob(job);
  assertSucceeded(job);
}

export function printJob(job: JobView): void {
  const took = job.finished_at && job.started_at ? ` in ${formatDurationMs(Date.parse(job.finished_at) - Date.parse(job.started_at))}` : '';
  process.stdout.write(`${job.kind} job ${job.id}: ${job.status}${took}${job.error ? ` — ${job.error}` : ''}\n`);
  if (job.steps.length > 0) {
    const bytes = (n: number | null | undefined): string => (n == null ? '' : formatBytes(n));
    // sizes say which: read from the source, NEW to the repository (plain), STORED after compression and encryption
    const [sizes, heads]: [(s: JobView['steps'][number]) => string[], string[]] =
      job.kind === 'backup'
        ? [(s) => [bytes(s.bytes_read), bytes(s.bytes_added), bytes(s.bytes_stored)], ['READ', 'NEW', 'STORED']]
        : job.kind === 'restore'
          ? [(s) => [bytes(s.bytes_read)], ['WRITTEN']]
          : [(s) => [bytes(s.bytes_read)], ['READ']];
    const rows = job.steps.map((s) => [
      s.target,
      s.status,
      s.snapshot_id ? s.snapshot_id.slice(0, 12) : '',
      ...sizes(s),
      s.duration_ms == null ? '' : formatDurationMs(s.duration_ms),
      s.error ?? summary(s.details),
    ]);
    process.stdout.write(`${table(['TARGET', 'STATUS', 'SNAPSHOT', ...heads, 'TOOK', 'NOTE'], rows)}\n`);
  }
}

/** One line about a step's details (retention: what was kept and removed). */
function summary(details?: Record<string, unknown>): string {
  if (!details) return '';
  if (Array.isArray(details.removed) || Array.isArray(details.kept)) {
    const n = (x: unknown) => (Array.isArray(x) ? x.length : ((x as { count?: number })?.count ?? 0));
    return `${details.dryRun ? 'would remove' : 'removed'} ${n(details.removed)}, kept ${n(details.kept)}`;
  }
  return '';
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('backup, restore, verify and cleanup jobs');
  jobs
    .command('show <id>')
    .description('a job with its steps and log')
    .option('--json', 'print JSON')
    .option('--verbose', 'also print the log')
    .action(async (id: string, opts: { json?: boolean; verbose?: boolean }, cmd: Command) => {
      const job = await call<JobView>(apiTarget(cmd), 'GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
      if (opts.json) return printJson(job);
      printJob(job);
      if (opts.verbose) for (const l of job.log) process.stdout.write(`${l.at} ${l.level.padEnd(5)} ${l.message}\n`);
    });
  jobs
    .command('restart <id>')
    .description('run a failed, cancelled or stuck job again (the old one is marked cancelled)')
    .option('--wait', 'follow the new job to its end')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { wait?: boolean; json?: boolean }, cmd: Command) => {
      const api = apiTarget(cmd);
      const answer = await call<{ job_id: string }>(api, 'POST', `/api/v1/jobs/${encodeURIComponent(id)}/restart`);
      if (!opts.json) process.stderr.write(`job ${id} restarted as ${answer.job_id}\n`);
      await followJob(api, answer, opts);
    });
  jobs
    .command('cancel <id>')
    .description('end a queued or running job as cancelled and stop its n8n execution (nothing half-made is committed)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const answer = await call<{ job_id: string; execution: string }>(apiTarget(cmd), 'POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`);
      if (opts.json) return printJson(answer);
      const how = { stopped: 'its n8n execution was stopped', none: 'it had no n8n execution yet', unreachable: 'n8n could not be asked to stop its execution' }[answer.execution] ?? '';
      process.stdout.write(`job ${id} cancelled${how ? `: ${how}` : ''}\n`);
    });
}
