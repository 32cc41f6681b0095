import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../../engine/retention';
import type { Repository } from '../../engine/repository/repository';
import { readKeyMaterial, unlock, type OpenOptions } from '../../engine/repository/unlock';
import { openStorage } from '../../engine/storage/location';
import type { Storage } from '../../engine/storage/storage';
import type { RepositoryConfig } from '../../engine/targets/postgresCluster/recoveryRunner';
import { UsageError } from '../exitCodes';

/** Options every `repo` command shares; flags win over the environment. */
export interface RepoFlags {
  config?: string;
  repo?: string;
  passphraseFile?: string;
  recoveryKey?: string;
  s3Endpoint?: string;
  s3AccessKey?: string;
  s3SecretKey?: string;
  s3Region?: string;
  retryLock?: string;
  json?: boolean;
}

export function addRepoFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'a JSON file with repository, passphrase and s3 settings (for archive_command/restore_command; flags and env win)')
    .option('-r, --repo <location>', 'repository: a path or s3://bucket/prefix (env DBM_REPOSITORY)')
    .option('--passphrase-file <file>', 'read the passphrase from a file (env DBM_PASSPHRASE)')
    .option('--recovery-key <pem-file>', 'open with an RSA recovery private key instead of a passphrase')
    .option('--s3-endpoint <url>', 'S3 endpoint URL, e.g. http://127.0.0.1:9000 (env DBM_S3_ENDPOINT)')
    .option('--s3-access-key <key>', 'S3 access key (env DBM_S3_ACCESS_KEY)')
    .option('--s3-secret-key <key>', 'S3 secret key (env DBM_S3_SECRET_KEY)')
    .option('--s3-region <region>', 'S3 region (env DBM_S3_REGION, default us-east-1)')
    .option('--retry-lock <duration>', 'wait this long for a conflicting lock, e.g. 30s, 5m (default: fail at once)');
}

export function flagsOf(cmd: Command): RepoFlags {
  return cmd.optsWithGlobals() as RepoFlags;
}

/** A repository config file: what archive_command and restore_command cannot take from the environment. */
export type RepoConfigFile = RepositoryConfig;

function configFile(flags: RepoFlags): RepoConfigFile | null {
  if (!flags.config) return null;
  try {
    return JSON.parse(readFileSync(flags.config, 'utf8')) as RepoConfigFile;
  } catch (err) {
    throw new UsageError(`cannot read config file ${flags.config} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Where the repository is and how to reach it: flags, then the environment, then the config file. */
function locationFrom(flags: RepoFlags): { repository: string; s3: NonNullable<RepoConfigFile['s3']> } {
  const env = process.env;
  const file = configFile(flags);
  const repository = flags.repo ?? env.DBM_REPOSITORY ?? file?.repository;
  if (!repository) throw new UsageError('no repository given: use --repo or set DBM_REPOSITORY');
  return {
    repository,
    s3: {
      endpoint: flags.s3Endpoint ?? env.DBM_S3_ENDPOINT ?? file?.s3?.endpoint,
      accessKey: flags.s3AccessKey ?? env.DBM_S3_ACCESS_KEY ?? file?.s3?.accessKey,
      secretKey: flags.s3SecretKey ?? env.DBM_S3_SECRET_KEY ?? file?.s3?.secretKey,
      region: flags.s3Region ?? env.DBM_S3_REGION ?? file?.s3?.region,
    },
  };
}

export function storageFrom(flags: RepoFlags): Storage {
  const { repository, s3 } = locationFrom(flags);
  const pathStyle = process.env.DBM_S3_PATH_STYLE ? process.env.DBM_S3_PATH_STYLE !== 'false' : undefined;
  return openStorage(repository, { ...s3, pathStyle });
}

/** The settings a config file for this repository would hold (to write one for restore_command). */
export function repoConfigOf(flags: RepoFlags): RepoConfigFile {
  const { repository, s3 } = locationFrom(flags);
  return {
    repository: repository.startsWith('s3://') ? repository : path.resolve(repository),
    passphrase: passphraseFrom(flags),
    ...(s3.endpoint ? { s3 } : {}),
  };
}

function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(`cannot read ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

export function passphraseFrom(flags: RepoFlags, required = true): string | undefined {
  if (flags.passphraseFile) return readSecretFile(flags.passphraseFile, 'passphrase');
  if (process.env.DBM_PASSPHRASE) return process.env.DBM_PASSPHRASE;
  const file = configFile(flags);
  if (file?.passphrase) return file.passphrase;
  if (required) throw new UsageError('no passphrase: set DBM_PASSPHRASE or use --passphrase-file');
  return undefined;
}

/**
 * Starts opening the repository: reads its key slots, and returns once the key derivation (scrypt:
 * 60-200 ms, on libuv's pool) has started, with the repository to come. What a command starts
 * then (workers booting, a server's connection) no longer delays the derivation's start, which
 * needs the main thread for its reads (issue 15).
 */
export async function startOpeningRepo(flags: RepoFlags): Promise<{ repository: Promise<Repository> }> {
  const storage = storageFrom(flags);
  const secret: OpenOptions = flags.recoveryKey
    ? { recoveryKey: readSecretFile(flags.recoveryKey, 'recovery key') }
    : { passphrase: passphraseFrom(flags) };
  const material = await readKeyMaterial(storage);
  // the engine's modules (~10-40 ms) load on this thread while the key is derived: `repo snapshots` is mostly these two
  const [unlocking, engine] = [unlock(material, secret), import('../../engine/repository/repository')];
  const repository = Promise.all([unlocking, engine]).then(([unlocked, { Repository }]) => Repository.unlocked(storage, unlocked));
  return { repository };
}

export async function openRepo(flags: RepoFlags): Promise<Repository> {
  return (await startOpeningRepo(flags)).repository;
}

export function lockWaitMs(flags: RepoFlags): number | undefined {
  return flags.retryLock ? parseDuration(flags.retryLock) : undefined;
}
