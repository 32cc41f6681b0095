import type { Command } from 'commander';
import { findSnapshot, restoreStream, restoreTree } from '../../../engine';
import { UsageError } from '../exitCodes';
import { formatBytes, printJson } from '../output';
import { collect, flagsOf, lockWaitMs, openRepo } from './context';

export function registerRestore(repo: Command): void {
  repo
    .command('restore')
    .description('restore a snapshot into a directory, or a stream to standard output')
    .argument('<snapshot>', "snapshot id (or a unique prefix) or 'latest'")
    .option('--target <dir>', 'directory to restore into')
    .option('--stdout', 'write a stream entry to standard output')
    .option('--name <name>', 'with --stdout: which entry (when the snapshot has several)')
    .option('--from <target>', "with 'latest': the newest snapshot of this backup target")
    .option('--include <glob>', 'restore only matching paths (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (snapshot: string, opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (!!opts.target === !!opts.stdout) throw new UsageError('give exactly one of --target <dir> or --stdout');
      const repository = await openRepo(flags);
      const ref = await findSnapshot(repository, snapshot, { target: opts.from });
      if (opts.stdout) {
        const written = await restoreStream(repository, ref, opts.name, process.stdout, { lockWaitMs: lockWaitMs(flags) });
        // standard output carries the data; the summary goes to a terminal only
        if (process.stderr.isTTY) process.stderr.write(`restored ${formatBytes(written)}\n`);
        return;
      }
      const result = await restoreTree(repository, ref, opts.target, { include: opts.include, lockWaitMs: lockWaitMs(flags) });
      if (flags.json) printJson({ snapshot: ref.id, target: opts.target, ...result });
      else {
        process.stdout.write(
          `restored snapshot ${ref.id.slice(0, 8)} to ${opts.target}: ${result.files} files, ${result.dirs} directories, ${formatBytes(result.bytesWritten)}\n`,
        );
      }
    });
}
