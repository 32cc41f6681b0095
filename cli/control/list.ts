import type { Command } from 'commander';
import { printJson, table, utcTime } from '../output';
import { wholeNumber } from '../options';
import { apiTarget, call } from './client';

/** `list`: jobs, newest first, a page at a time. */
export function registerList(program: Command): void {
  program
    .command('list')
    .description('jobs, newest first (backups unless --kind)')
    .option('--target <name>', 'only jobs of this target')
    .option('--type <type>', 'full, incremental or differential')
    .option('--status <status>', 'queued, running, completed, failed or cancelled')
    .option('--kind <kind>', 'backup, restore, verify, cleanup or all', 'backup')
    .option('--since <when>', 'an ISO date or a duration back from now (7d)')
    .option('--limit <n>', 'page size', wholeNumber('--limit'), 50)
    .option('--offset <n>', 'skip this many', wholeNumber('--offset'), 0)
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const query = new URLSearchParams(
        Object.entries({ target: opts.target, type: opts.type, status: opts.status, kind: opts.kind, since: opts.since, limit: opts.limit, offset: opts.offset })
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, String(v)] as [string, string]),
      );
      const page = await call<{ total: number; offset: number; jobs: { id: string; kind: string; type: string | null; targets: string[]; status: string; created_at: string; snapshots: { target: string; snapshot_id: string | null; bytes_added: number | null }[] }[] }>(
        apiTarget(cmd),
        'GET',
        `/api/v1/backup/list?${query}`,
      );
      if (opts.json) return printJson(page);
      const rows = page.jobs.map((j) => [
        j.id,
        utcTime(j.created_at),
        j.kind,
        j.type ?? '',
        j.status,
        j.targets.join(','),
        j.snapshots.map((s) => `${s.target}:${(s.snapshot_id ?? '').slice(0, 8)}`).join(' '),
      ]);
      process.stdout.write(`${table(['JOB', 'CREATED (UTC)', 'KIND', 'TYPE', 'STATUS', 'TARGETS', 'SNAPSHOTS'], rows)}\n${page.offset + 1}–${page.offset + page.jobs.length} of ${page.total}\n`);
    });
}
