import type { Command } from 'commander';
import { listSnapshots } from '../../engine/snapshot';
import { formatBytes, printJson, table } from '../output';
import { collect, parseTags } from '../options';
import { flagsOf, openRepo } from './context';

export function registerSnapshots(repo: Command): void {
  repo
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--target <name>', 'only snapshots of this backup target')
    .option('--tag <key=value>', 'only snapshots with this tag (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const refs = await listSnapshots(repository, { target: opts.target, tags: opts.tag ? parseTags(opts.tag) : undefined });
      if (flags.json) {
        printJson(refs.map((r) => ({ id: r.id, short_id: r.id.slice(0, 8), ...r.snapshot })));
        return;
      }
      const rows = refs.map((r) => {
        const s = r.snapshot;
        return [
          r.id.slice(0, 8),
          s.time.replace('T', ' ').slice(0, 19),
          s.target,
          s.type,
          s.hostname,
          formatBytes(s.stats.totalSize),
          Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(','),
          s.paths.join(', '),
        ];
      });
      process.stdout.write(`${table(['ID', 'TIME (UTC)', 'TARGET', 'TYPE', 'HOST', 'SIZE', 'TAGS', 'PATHS'], rows)}\n${refs.length} snapshots\n`);
    });
}
