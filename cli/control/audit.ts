import type { Command } from 'commander';
import { EXIT, ExitError } from '../exitCodes';
import { printJson } from '../output';
import { apiTarget, call } from './client';

/** `audit verify`: the audit log's hash chain, checked by the server (which holds the key). */
export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description("the API's audit log")
    .command('verify')
    .description('check that no audit row was edited or deleted (exit 1 if one was)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const api = apiTarget(cmd);
      const result = await call<{ ok: boolean; checked: number; unchained: number; broken?: { id: string; problem: string } }>(api, 'GET', '/api/v1/audit/verify', undefined, { accept: [409] });
      if (opts.json) printJson(result);
      else if (result.ok) process.stdout.write(`audit log intact: ${result.checked} rows chained${result.unchained ? ` (${result.unchained} older rows from before the chain)` : ''}\n`);
      else process.stdout.write(`audit log BROKEN at row ${result.broken?.id}: ${result.broken?.problem} (${result.checked} rows before it check out)\n`);
      if (!result.ok) throw new ExitError(`the audit log was tampered with at row ${result.broken?.id}`, EXIT.failure);
    });
}
