import type { Command } from 'commander';
import * as path from 'node:path';
import { checkClusterName, checkWalName, pushWal } from '../../engine/targets';
import { SPOOL_MAX_BYTES, SpoolBehindError, spoolWal } from '../../engine/targets/postgresCluster/walSpool';
import { EXIT, ExitError } from '../exitCodes';
import { wholeNumber } from '../options';
import { flagsOf, openRepo } from './context';

/** `repo wal-push`: PostgreSQL's archive_command: one WAL segment into the repository (or the spool). */
export function registerWalPush(repo: Command): void {
  repo
    .command('wal-push <file>')
    .description("archive one WAL file: PostgreSQL's archive_command (%p); --spool hands it to wal-uploader instead")
    .requiredOption('--cluster <name>', 'the cluster the WAL belongs to')
    .option('--spool <dir>', 'asynchronous: copy into this spool directory and return; wal-uploader stores it')
    .option('--spool-max <bytes>', 'with --spool: refuse (so PostgreSQL keeps its WAL and retries) beyond this backlog', String(SPOOL_MAX_BYTES))
    .action(async (file: string, opts: { cluster: string; spool?: string; spoolMax: string }, cmd: Command) => {
      checkClusterName(opts.cluster);
      const name = checkWalName(path.basename(file));
      if (opts.spool) {
        try {
          await spoolWal(file, opts.spool, wholeNumber('--spool-max')(opts.spoolMax));
        } catch (err) {
          if (err instanceof SpoolBehindError) throw new ExitError(err.message, EXIT.failure);
          throw err;
        }
        return;
      }
      const outcome = await pushWal(await openRepo(flagsOf(cmd)), opts.cluster, file);
      if (outcome === 'already archived') process.stderr.write(`${name} was already archived with the same content\n`);
    });
}
