import type { Command } from 'commander';
import { checkClusterName, pitrWindow } from '../../engine/targets';
import { EXIT } from '../exitCodes';
import { printJson } from '../output';
import { flagsOf, openRepo } from './context';

/** `repo pitr-window`: the moments a cluster can be restored to. */
export function registerPitrWindow(repo: Command): void {
  repo
    .command('pitr-window')
    .description('what the archive can restore, per cluster: earliest and latest moments, and gaps in the WAL')
    .requiredOption('--cluster <name>', 'the cluster')
    .option('--json', 'print JSON')
    .action(async (opts: { cluster: string; json?: boolean }, cmd: Command) => {
      const window = await pitrWindow(await openRepo(flagsOf(cmd)), checkClusterName(opts.cluster));
      if (opts.json) printJson(window);
      else {
        const lines = [
          `cluster ${window.cluster}: ${window.baseBackups.length} base backups, ${window.walFiles} WAL files`,
          `restorable from ${window.earliest ?? '-'} to ${window.latest ?? '-'} (${window.latestKind}${window.latestSegment ? `; WAL up to ${window.latestSegment}` : ''})`,
          ...window.gaps.map((g) => `GAP: ${g.count} WAL segment(s) missing, ${g.first} … ${g.last}: nothing after ${g.restorableUntil ?? 'it'} is restorable until the next base backup`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (window.gaps.length > 0) process.exitCode = EXIT.failure;
    });
}
