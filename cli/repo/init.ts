import type { Command } from 'commander';
import { Repository } from '../../engine';
import { MAX_LEVEL, namedLevel } from '../../engine/compression';
import { UsageError } from '../exitCodes';
import { printJson } from '../output';
import { flagsOf, passphraseFrom, storageFrom } from './context';

/** The level `--compression` names; the repository's config refuses one out of range. */
function compressionLevel(value: string): number {
  const level = namedLevel(value);
  if (level === null) throw new UsageError(`--compression must be off, fast, default or a level from 0 to ${MAX_LEVEL}, not ${JSON.stringify(value)}`);
  return level;
}

export function registerInit(repo: Command): void {
  repo
    .command('init')
    .description('create a new repository (and the bucket, when it is missing)')
    .option('--compression <level>', `off, fast (zstd level 1), default (zstd 3) or a zstd level 1-${MAX_LEVEL}: higher stores less, slower; fixed for the repository's life`)
    .option('--json', 'print JSON')
    .action(async (opts: { compression?: string }, cmd: Command) => {
      const flags = flagsOf(cmd);
      const config = { compressionLevel: opts.compression === undefined ? undefined : compressionLevel(opts.compression) };
      const created = await Repository.init(storageFrom(flags), { passphrase: passphraseFrom(flags)!, config });
      if (flags.json) printJson({ id: created.config.id, location: created.storage.location });
      else process.stdout.write(`created repository ${created.config.id.slice(0, 8)} at ${created.storage.location}\n`);
    });
}
