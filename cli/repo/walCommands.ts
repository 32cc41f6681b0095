import type { Command } from 'commander';
import * as path from 'node:path';
import { archiveCommandLine, commandLine, restoreCommandLine, shellWord } from '../../engine/targets/postgresCluster/commandLines';
import { UsageError } from '../exitCodes';
import { flagsOf } from './context';
import { walArchiveArgv, walGetArgv, walSpoolArgv } from '../programs';

/** `repo wal-commands`: the archive_command and restore_command lines for postgresql.conf. */
export function registerWalCommands(repo: Command): void {
  repo
    .command('wal-commands')
    .description("print PostgreSQL's archive_command and restore_command for this repository (with --config)")
    .requiredOption('--cluster <name>', 'the cluster')
    .option('--spool <dir>', 'asynchronous archiving through this spool')
    .action((opts: { cluster: string; spool?: string }, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (!flags.config) throw new UsageError('give --config <file>: PostgreSQL runs the commands without your environment (write one with: repo wal-config)');
      const config = path.resolve(flags.config);
      const archiveCommand = opts.spool
        ? `${commandLine(walSpoolArgv())} ${shellWord(path.resolve(opts.spool))} %p`
        : archiveCommandLine(walArchiveArgv(), config, opts.cluster);
      process.stdout.write(
        [
          "archive_mode = 'on'",
          `archive_command = '${archiveCommand.replace(/'/g, "''")}'`,
          `restore_command = '${restoreCommandLine(walGetArgv(), config, opts.cluster).replace(/'/g, "''")}'`,
          ...(opts.spool ? [`# and keep running: data-backup-manager repo --config ${flags.config} wal-uploader --cluster ${opts.cluster} --spool ${opts.spool}`] : []),
          '',
        ].join('\n'),
      );
    });
}
