import type { Command } from 'commander';
import * as path from 'node:path';
import { checkClusterName, runPrefetcher } from '../../engine/targets';
import { wholeNumber } from '../options';
import { flagsOf, openRepo } from './context';

/** `repo wal-prefetch`: the prefetcher behind `wal-get` (which starts it); it stops by itself after promotion. */
export function registerWalPrefetch(repo: Command): void {
  repo
    .command('wal-prefetch')
    .description('keep the next archived WAL segments fetched into a restoring cluster\'s queue (wal-get, the restore_command, starts it)')
    .requiredOption('--cluster <name>', 'the cluster')
    .requiredOption('--queue <dir>', 'the queue: <data directory>/dbm_wal_queue')
    .option('--ahead-mib <n>', 'WAL to keep ready ahead of replay, in MiB (at least 8 segments)', wholeNumber('--ahead-mib'), 256)
    .option('--concurrency <n>', 'fetches at a time', wholeNumber('--concurrency'), 4)
    .action(async (opts: { cluster: string; queue: string; aheadMib: number; concurrency: number }, cmd: Command) => {
      await runPrefetcher(await openRepo(flagsOf(cmd)), checkClusterName(opts.cluster), {
        queue: path.resolve(opts.queue),
        aheadBytes: Math.max(1, opts.aheadMib) * 1024 * 1024,
        concurrency: Math.max(1, opts.concurrency),
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
    });
}
