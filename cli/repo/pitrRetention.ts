import type { Command } from 'commander';
import { parseDuration, prune } from '../../engine';
import { checkClusterName, pitrRetention } from '../../engine/targets';
import { formatBytes, printJson } from '../output';
import { flagsOf, lockWaitMs, openRepo } from './context';

/** `repo pitr-retention`: forget base backups and the WAL only they need. */
export function registerPitrRetention(repo: Command): void {
  repo
    .command('pitr-retention')
    .description('keep what restoring to any moment of the last --window needs (base backups and WAL), forget the rest, prune')
    .requiredOption('--cluster <name>', 'the cluster')
    .requiredOption('--window <duration>', 'how far back every moment must stay restorable, e.g. 7d')
    .option('--dry-run', 'only say what would go')
    .option('--no-prune', 'forget base backups and delete WAL, but leave unreferenced data for a later prune')
    .option('--json', 'print JSON')
    .action(async (opts: { cluster: string; window: string; dryRun?: boolean; prune: boolean; json?: boolean }, cmd: Command) => {
      const flags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const result = await pitrRetention(repository, checkClusterName(opts.cluster), { windowMs: parseDuration(opts.window), dryRun: opts.dryRun });
      const pruned = !opts.dryRun && opts.prune && result.forgotten.length > 0 ? await prune(repository, { lockWaitMs: lockWaitMs(flags) }) : null;
      if (opts.json) return printJson({ ...result, prune: pruned });
      process.stdout.write(
        [
          `${opts.dryRun ? 'would keep' : 'kept'} ${result.kept.length} base backups, ${opts.dryRun ? 'would forget' : 'forgot'} ${result.forgotten.length}`,
          `${opts.dryRun ? 'would delete' : 'deleted'} ${result.walDeleted} WAL files, ${result.walKept} kept; restorable from ${result.earliest}`,
          ...(pruned ? [`pruned: ${pruned.packsDeleted} packs deleted, ${formatBytes(pruned.bytesFreed)} freed`] : []),
          '',
        ].join('\n'),
      );
    });
}
