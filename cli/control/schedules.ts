import type { Command } from 'commander';
import { UsageError } from '../exitCodes';
import { printJson, table } from '../output';
import { apiTarget, call } from './client';
import { csv, sourceFields, withSourceOptions } from './commands';

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
    .requiredOption('--targets <list>', 'postgres,files,scenarios,minio,postgres-cluster', csv)
    .option('--type <type>', 'full, incremental or differential', 'incremental')
    .option('--retention <days>', 'forget snapshots older than this many days after each run (e.g. 30 or 30d)')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      let retention: number | undefined;
      if (opts.retention !== undefined) {
        const m = /^(\d+)d?$/.exec(String(opts.retention));
        if (!m || Number(m[1]) < 1) throw new UsageError(`--retention ${String(opts.retention)}: give days, e.g. 30 or 30d`);
        retention = Number(m[1]);
      }
      const created = await call<ScheduleView>(apiTarget(cmd), 'POST', '/api/v1/schedules', {
        name: opts.name,
        cron: opts.cron,
        targets: opts.targets,
        type: opts.type,
        retention_days: retention,
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

export function registerTokens(program: Command): void {
  const token = program.command('token').description('API tokens (admin)');
  token
    .command('list')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { tokens } = await call<{ tokens: { id: string; name: string; role: string; created_at: string; last_used_at: string | null; revoked_at: string | null }[] }>(apiTarget(cmd), 'GET', '/api/v1/tokens');
      if (opts.json) return printJson(tokens);
      process.stdout.write(`${table(['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'REVOKED'], tokens.map((t) => [t.id, t.name, t.role, t.created_at.slice(0, 16), t.last_used_at?.slice(0, 16) ?? '', t.revoked_at?.slice(0, 16) ?? '']))}\n`);
    });
  token
    .command('create')
    .requiredOption('--name <name>', 'who or what uses it')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; role: string; json?: boolean }, cmd: Command) => {
      const created = await call<{ id: string; token: string }>(apiTarget(cmd), 'POST', '/api/v1/tokens', { name: opts.name, role: opts.role });
      if (opts.json) return printJson(created);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`token ${created.id} (${opts.role}) created; it is shown this once\n`);
    });
  token
    .command('revoke <id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await call(apiTarget(cmd), 'DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(`token ${id} revoked\n`);
    });
}
