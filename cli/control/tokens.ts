import type { Command } from 'commander';
import { printJson, table } from '../output';
import { apiTarget, call } from './client';

/** `token list|create|revoke`: API tokens (admin). */
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
