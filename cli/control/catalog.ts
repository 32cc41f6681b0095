import type { Command } from 'commander';
import { printJson } from '../output';
import { apiTarget, call } from './client';

/** `catalog rebuild`: the snapshot cache made again from the repository. */
export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the catalog database');
  catalog
    .command('rebuild')
    .description("rebuild the catalog's snapshot cache from the repository")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const result = await call<{ cached: number; removed: number }>(apiTarget(cmd), 'POST', '/api/v1/catalog/rebuild');
      if (opts.json) return printJson(result);
      process.stdout.write(`snapshot cache rebuilt: ${result.cached} snapshots, ${result.removed} stale entries removed\n`);
    });
}
