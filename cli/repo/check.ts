import type { Command } from 'commander';
import { percent } from '../options';
import { checkRepository } from '../../engine';
import { EXIT, UsageError } from '../exitCodes';
import { printJson } from '../output';
import { flagsOf, lockWaitMs, openRepo } from './context';

export function registerCheck(repo: Command): void {
  repo
    .command('check')
    .description('check the repository structure, and optionally read back its data')
    .option('--read-data', 'download and verify every pack')
    .option('--read-data-subset <percent>', 'verify this share of the packs, e.g. 10%', percent('--read-data-subset'))
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (opts.readDataSubset === 0) throw new UsageError('--read-data-subset 0% reads nothing: give more than 0, e.g. 10%');
      const repository = await openRepo(flags);
      const report = await checkRepository(repository, { readData: opts.readData, readDataPercent: opts.readDataSubset, lockWaitMs: lockWaitMs(flags) });
      if (flags.json) printJson(report);
      else {
        for (const w of report.warnings) process.stdout.write(`warning: ${w}\n`);
        for (const e of report.errors) process.stdout.write(`error: ${e}\n`);
        process.stdout.write(
          `${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs` +
            (report.packsRead ? `; read ${report.packsRead} packs, ${report.blobsRead} blobs` : '') +
            `\n${report.ok ? 'no errors were found' : `${report.errors.length} errors found`}\n`,
        );
      }
      if (!report.ok) process.exitCode = EXIT.failure;
    });
}
