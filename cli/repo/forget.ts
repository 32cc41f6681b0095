import type { Command } from 'commander';
import { forgetSnapshots, parseDuration, prune, type GroupKey, type PruneReport, type RetentionPolicy } from '../../engine';
import { UsageError } from '../exitCodes';
import { formatBytes, printJson, table } from '../output';
import { csv, percent, wholeNumber } from '../options';
import { flagsOf, lockWaitMs, openRepo, type RepoFlags } from './context';

const KEEP_FLAGS: [string, keyof RetentionPolicy][] = [
  ['keepLast', 'last'],
  ['keepHourly', 'hourly'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
  ['keepYearly', 'yearly'],
];

export function registerForget(repo: Command): void {
  repo
    .command('forget')
    .description('remove snapshots a keep-policy does not keep (their data goes with prune)')
    .option('--keep-last <n>', 'keep the newest n snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days')
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n weeks')
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months')
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the last n years')
    .option('--keep-within <duration>', 'keep every snapshot within this time of the newest, e.g. 30d')
    .option('--group-by <keys>', 'group by target,tags,host,paths (a job= tag never groups)', 'target,paths,tags')
    .option('--target <name>', 'only snapshots of this backup target')
    .option('--dry-run', 'show what would be removed and why, remove nothing')
    .option('--prune', 'prune unreferenced data afterwards')
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const policy: RetentionPolicy = {};
      for (const [flag, rule] of KEEP_FLAGS) {
        if (opts[flag] !== undefined) policy[rule] = wholeNumber(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)(opts[flag]);
      }
      if (opts.keepWithin !== undefined) policy.withinMs = parseDuration(opts.keepWithin);
      if (Object.keys(policy).length === 0) throw new UsageError('no keep rule given (--keep-last, --keep-daily, --keep-within, …)');
      const groupBy = csv(String(opts.groupBy)) as GroupKey[];
      for (const g of groupBy) if (!['target', 'tags', 'host', 'paths'].includes(g)) throw new UsageError(`--group-by: unknown key ${g}`);
      const repository = await openRepo(flags);
      const decisions = await forgetSnapshots(repository, { policy, groupBy, target: opts.target, dryRun: opts.dryRun, lockWaitMs: lockWaitMs(flags) });
      let pruned: PruneReport | null = null;
      if (opts.prune && !opts.dryRun) pruned = await prune(repository, { lockWaitMs: lockWaitMs(flags) });
      if (flags.json) {
        printJson({
          dry_run: !!opts.dryRun,
          keep: decisions.filter((d) => d.keep).map((d) => ({ id: d.item.id, time: d.item.time, group: d.item.group, reasons: d.reasons })),
          remove: decisions.filter((d) => !d.keep).map((d) => ({ id: d.item.id, time: d.item.time, group: d.item.group })),
          prune: pruned,
        });
        return;
      }
      const rows = decisions.map((d) => [
        d.item.id.slice(0, 8),
        d.item.time.replace('T', ' ').slice(0, 19),
        d.item.group,
        d.keep ? 'keep' : opts.dryRun ? 'would remove' : 'removed',
        d.reasons.join('; '),
      ]);
      process.stdout.write(`${table(['ID', 'TIME (UTC)', 'GROUP', 'ACTION', 'WHY KEPT'], rows)}\n`);
      const removed = decisions.filter((d) => !d.keep).length;
      process.stdout.write(`${decisions.length - removed} kept, ${removed} ${opts.dryRun ? 'would be removed' : 'removed'}\n`);
      if (pruned) printPrune(pruned);
    });

  repo
    .command('prune')
    .description('delete data no snapshot needs (takes an exclusive lock)')
    .option('--dry-run', 'show what would be deleted')
    .option('--max-unused <percent>', 'rewrite a pack when more than this share of it is unused (default 5%)', percent('--max-unused'), 5)
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const flags: RepoFlags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const report = await prune(repository, { dryRun: opts.dryRun, maxUnusedPercent: opts.maxUnused, lockWaitMs: lockWaitMs(flags) });
      if (flags.json) printJson(report);
      else printPrune(report);
    });
}

function printPrune(r: PruneReport): void {
  const verb = r.dryRun ? 'would ' : '';
  process.stdout.write(
    `prune: ${verb}delete ${r.packsDeleted} packs, ${verb}rewrite ${r.packsRepacked}, keep ${r.packsKept}; ` +
      `${r.packsUnindexed} unindexed packs; ${r.spoolFilesRemoved} spool files left by killed writers; ${r.blobsRemoved} blobs; ${formatBytes(r.bytesFreed)} ${r.dryRun ? 'to free' : 'freed'}\n`,
  );
}
