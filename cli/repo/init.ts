import type { Command } from 'commander';
import { Repository } from '../../engine';
import { printJson } from '../output';
import { flagsOf, passphraseFrom, storageFrom } from './context';

export function registerInit(repo: Command): void {
  repo
    .command('init')
    .description('create a new repository (and the bucket, when it is missing)')
    .option('--json', 'print JSON')
    .action(async (_opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const created = await Repository.init(storageFrom(flags), { passphrase: passphraseFrom(flags)! });
      if (flags.json) printJson({ id: created.config.id, location: created.storage.location });
      else process.stdout.write(`created repository ${created.config.id.slice(0, 8)} at ${created.storage.location}\n`);
    });
}
