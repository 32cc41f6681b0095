import type { Command } from 'commander';
import { listLocks, removeStaleLocks } from '../../engine';
import { flagsOf, openRepo } from './context';

export function registerUnlock(repo: Command): void {
  repo
    .command('unlock')
    .description('remove stale locks (of dead processes, or not refreshed for 30 minutes)')
    .option('--remove-all', 'remove every lock, live ones too: only when you know no backup, restore or prune is running')
    .action(async (opts: { removeAll?: boolean }, cmd: Command) => {
      const repository = await openRepo(flagsOf(cmd));
      if (!opts.removeAll) {
        const removed = await removeStaleLocks(repository);
        const left = await listLocks(repository);
        process.stdout.write(`removed ${removed} stale locks${left.length ? `; ${left.length} live (held by ${left.map((l) => (l.info ? `${l.info.operation}, pid ${l.info.pid} on ${l.info.hostname}` : 'unknown')).join('; ')}): --remove-all removes them too` : ''}\n`);
        return;
      }
      const locks = await listLocks(repository);
      for (const lock of locks) await repository.storage.delete(lock.key);
      process.stdout.write(`removed all ${locks.length} locks\n`);
    });
}
