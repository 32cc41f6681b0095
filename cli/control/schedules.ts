import type { Command } from 'commander';
import { printJson, table } from '../output';
import { csv, days } from '../options';
import { apiTarget, call } from './client';
import { sourceFields, targetList, withSourceOptions } from './sources';

interface ScheduleView {
  name: string;
  cron: string;
  type: string;
  targets: string[];
  enabled: boolean;
  retention_days: number | null;
  next_run: string | null;
  last_run: { job_id: string; at: string; status: string; error: string | null } | null;
}

/** `schedule list|create|enable|disable|delete`: scheduled backups, each a published n8n workflow. */
export function registerSchedules(program: Command): void {
  const schedule = program.command('schedule').description('scheduled backups (each a published n8n workflow)');
  schedule
    .command('list')
    .description('schedules with their next run and last outcome')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const answer = await call<{ timezone: string; schedules: ScheduleView[] }>(apiTarget(cmd), 'GET', '/api/v1/schedules');
      if (opts.json) return printJson(answer);
      const rows = answer.schedules.map((s) => [
        s.name,
        s.enabled ? 'enabled' : 'disabled',
        s.cron,
        s.type,
        s.targets.join(','),
        s.next_run ? s.next_run.replace('T', ' ').slice(0, 16) : '',
        s.last_run ? `${s.last_run.status} ${s.last_run.at.replace('T', ' ').slice(0, 16)}` : 'never',
      ]);
      process.stdout.write(`${table(['NAME', 'STATE', 'CRON', 'TYPE', 'TARGETS', 'NEXT RUN (UTC)', 'LAST RUN'], rows)}\n(cron runs in ${answer.timezone})\n`);
    });
  withSourceOptions(schedule
    .command('create'))
    .description('create and enable a schedule')
    .requiredOption('--name <name>', 'lowercase letters, digits, - and _')
    .requiredOption('--cron <expr>', 'five fields (minute hour day month weekday), or six with seconds first')
    .requiredOption('--targets <list>', targetList(), csv)
    .option('--type <type>', 'full, incremental or differential', 'incremental')
    .option('--retention <days>', 'forget snapshots older than this many days after each run (e.g. 30 or 30d)', days('--retention'))
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const created = await call<ScheduleView>(apiTarget(cmd), 'POST', '/api/v1/schedules', {
        name: opts.name,
        cron: opts.cron,
        targets: opts.targets,
        type: opts.type,
        retention_days: opts.retention,
        ...sourceFields(opts),
      });
      if (opts.json) return printJson(created);
      process.stdout.write(`schedule ${created.name} created and enabled (${created.cron})\n`);
    });
  for (const action of ['enable', 'disable', 'delete'] as const) {
    schedule
      .command(`${action} <name>`)
      .description(`${action} a schedule`)
      .option('--json', 'print JSON')
      .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
        const route = `/api/v1/schedules/${encodeURIComponent(name)}`;
        const answer = await call<Record<string, unknown>>(apiTarget(cmd), action === 'delete' ? 'DELETE' : 'POST', action === 'delete' ? route : `${route}/${action}`);
        if (opts.json) return printJson(answer);
        process.stdout.write(`schedule ${name} ${action}d\n`);
      });
  }
}
