import type { Command } from 'commander';
import { writeRepositoryConfig } from '../../engine/targets/postgresCluster/recoveryRunner';
import { flagsOf, repoConfigOf } from './context';

/** `repo wal-config`: a config file PostgreSQL's commands can read (they run without our environment). */
export function registerWalConfig(repo: Command): void {
  repo
    .command('wal-config <file>')
    .description('write a config file (mode 0600) with this repository and passphrase, for archive_command and restore_command')
    .option('--owner <user>', 'give the file to this user (the one PostgreSQL runs as)')
    .action((file: string, opts: { owner?: string }, cmd: Command) => {
      writeRepositoryConfig(file, repoConfigOf(flagsOf(cmd)), opts.owner);
      process.stdout.write(`wrote ${file}\n`);
    });
}
