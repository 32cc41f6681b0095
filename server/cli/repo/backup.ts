import type { Command } from 'commander';
import { BACKUP_TYPES, backupStreams, backupTree, newProgress, type BackupType, type SnapshotRef } from '../../../engine';
import { UsageError } from '../exitCodes';
import { formatBytes, formatDurationMs, printJson, progressLine } from '../output';
import { collect, flagsOf, lockWaitMs, openRepo, parseTags } from './context';

export function registerBackup(repo: Command): void {
  repo
    .command('backup')
    .description('back up paths, or standard input with --stdin')
    .argument('[paths...]', 'files or directories to back up')
    .option('--stdin', 'read the data to back up from standard input')
    .option('--name <name>', 'entry name for --stdin data (e.g. db.sql)')
    .option('--target <name>', 'backup target the snapshot belongs to (default: files, or stdin)')
    .option('--type <type>', 'full | incremental | differential', 'incremental')
    .option('--tag <key=value>', 'tag the snapshot (repeatable)', collect)
    .option('--exclude <glob>', 'skip matching paths (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (paths: string[], opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (!BACKUP_TYPES.includes(opts.type)) throw new UsageError(`--type must be one of ${BACKUP_TYPES.join(', ')}`);
      if (opts.stdin && paths.length > 0) throw new UsageError('give paths or --stdin, not both');
      if (!opts.stdin && paths.length === 0) throw new UsageError('nothing to back up: give paths or --stdin');
      if (opts.stdin && !opts.name) throw new UsageError('--stdin needs --name for the entry');
      const tags = parseTags(opts.tag);
      const repository = await openRepo(flags);
      const progress = newProgress();
      const stop = progressLine(
        () => `${progress.files} files, ${formatBytes(progress.bytesRead)} read, ${formatBytes(repository.counters.bytesAdded)} new`,
        process.stderr.isTTY === true && !flags.json,
      );
      const common = { tags, type: opts.type as BackupType, progress, lockWaitMs: lockWaitMs(flags), excludes: opts.exclude };
      let ref: SnapshotRef;
      try {
        ref = opts.stdin
          ? await backupStreams(repository, [{ name: opts.name, open: () => process.stdin }], { ...common, target: opts.target ?? 'stdin' })
          : await backupTree(repository, paths, { ...common, target: opts.target ?? 'files' });
      } finally {
        stop();
      }
      const s = ref.snapshot;
      for (const w of progress.warnings) process.stderr.write(`warning: ${w}\n`);
      if (flags.json) {
        printJson({ id: ref.id, short_id: ref.id.slice(0, 8), target: s.target, type: s.type, parent: s.parent, time: s.time, ...s.stats, warnings: progress.warnings });
        return;
      }
      process.stdout.write(
        [
          `snapshot ${ref.id.slice(0, 8)} saved (${s.target}, ${s.type}${s.parent ? `, parent ${s.parent.slice(0, 8)}` : ''})`,
          `files:   ${s.stats.files} (${s.stats.filesUnchanged} unchanged), ${s.stats.dirs} directories`,
          `read:    ${formatBytes(s.stats.bytesRead)} of ${formatBytes(s.stats.totalSize)}`,
          `added:   ${formatBytes(s.stats.bytesAdded)} new data, ${formatBytes(s.stats.bytesStored)} stored`,
          `took:    ${formatDurationMs(s.stats.durationMs)}`,
        ].join('\n') + '\n',
      );
    });
}
