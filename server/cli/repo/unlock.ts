import type { Command } from 'commander';
import { removeStaleLocks } from '../../../engine';
import { flagsOf, openRepo } from './context';

export function registerUnlock(repo: Command): void {
  repo
    .command('unlock')
    .description('remove stale locks (of dead processes, or not refreshed for 30 minutes)')
    .action(async (_opts, cmd: Command) => {
      const removed = await removeStaleLocks(await openRepo(flagsOf(cmd)));
      process.stdout.write(`removed ${removed} stale locks\n`);
    });
}
