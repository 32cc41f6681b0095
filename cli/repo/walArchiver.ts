import type { Command } from 'commander';
import * as path from 'node:path';
import { checkClusterName, runArchiver } from '../../engine/targets';
import { flagsOf, openRepo } from './context';

/** `repo wal-archiver`: the resident archiver behind `wal-archive` (which starts it). */
export function registerWalArchiver(repo: Command): void {
  repo
    .command('wal-archiver')
    .description("store the WAL segments PostgreSQL's archive_command (wal-archive) hands over, the repository opened once (wal-archive starts it)")
    .requiredOption('--cluster <name>', 'the cluster')
    .requiredOption('--queue <dir>', 'the hand-over folder: <data directory>/dbm_wal_archive')
    .action(async (opts: { cluster: string; queue: string }, cmd: Command) => {
      await runArchiver(await openRepo(flagsOf(cmd)), checkClusterName(opts.cluster), {
        queue: path.resolve(opts.queue),
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
    });
}
