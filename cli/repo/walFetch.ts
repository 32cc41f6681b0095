import type { Command } from 'commander';
import { describeError } from '../../engine';
import { checkWalName, fetchWal } from '../../engine/targets';
import { EXIT, ExitError } from '../exitCodes';
import { flagsOf, openRepo } from './context';

/** `repo wal-fetch`: PostgreSQL's restore_command: one WAL segment out of the repository. */
export function registerWalFetch(repo: Command): void {
  repo
    .command('wal-fetch <name> <dest>')
    .description("restore one archived WAL file: PostgreSQL's restore_command (%f %p); exit 1 when the archive does not have it")
    .requiredOption('--cluster <name>', 'the cluster')
    .action(async (name: string, dest: string, opts: { cluster: string }, cmd: Command) => {
      let found: boolean;
      try {
        found = await fetchWal(await openRepo(flagsOf(cmd)), opts.cluster, checkWalName(name), dest);
      } catch (err) {
        // not "missing" (1): PostgreSQL would end recovery there, and --latest would promote early; above 125 it stops instead
        throw new ExitError(`fetching ${name} failed: ${describeError(err)}`, 255);
      }
      if (!found) throw new ExitError(`${name} is not in the archive of cluster ${opts.cluster}`, EXIT.failure);
    });
}
