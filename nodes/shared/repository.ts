import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { openStorage, Repository } from '../../engine';
import { namedLevel } from '../../engine/compression';
import type { MinioSource, PgConnection } from '../../engine/targets';
import type { RepositoryConfig } from '../../engine/targets/postgresCluster/recoveryRunner';

/**
 * How long a job's step waits for a conflicting lock (retention's prune holds an exclusive one) before
 * failing: a scheduled restore or backup should not fail because retention happens to be running.
 */
const LOCK_WAIT_SECONDS = Number(process.env.DBM_LOCK_WAIT_SECONDS ?? 300);
export const LOCK_WAIT_MS = Number.isFinite(LOCK_WAIT_SECONDS) && LOCK_WAIT_SECONDS >= 0 ? LOCK_WAIT_SECONDS * 1000 : 0;

/** The backup repository a credential names, opened (or created, when the credential allows it). */
export async function openRepository(creds: ICredentialDataDecryptedObject): Promise<Repository> {
  const { repository, passphrase, s3 } = repositoryConfigOf(creds);
  if (!passphrase) throw new Error('the Backup Repository credential has no passphrase');
  const storage = openStorage(repository, s3);
  // several workers' first backups may all find no repository: one is created, all open it
  const repo =
    creds.createIfMissing !== false
      ? await Repository.initOrOpen(storage, { passphrase, config: { compressionLevel: compressionOf(creds) } })
      : await Repository.open(storage, { passphrase });
  repo.lockWaitMs = LOCK_WAIT_MS;
  return repo;
}

/** The zstd level of a repository the credential creates: its Compression field (credentials made before it have none: the default). */
function compressionOf(creds: ICredentialDataDecryptedObject): number | undefined {
  if (creds.compression === undefined || creds.compression === '') return undefined;
  const level = namedLevel(String(creds.compression));
  if (level === null) throw new Error(`the Backup Repository credential's compression is ${JSON.stringify(creds.compression)}: use default, fast or off`);
  return level;
}

/** What `repo --config` needs to read the same repository (PostgreSQL's restore_command runs the CLI). */
export function repositoryConfigOf(creds: ICredentialDataDecryptedObject): RepositoryConfig {
  const passphrase = String(creds.passphrase ?? '');
  if (creds.storage === 'local') return { repository: String(creds.path ?? ''), passphrase };
  return {
    repository: `s3://${String(creds.bucket ?? '')}${creds.prefix ? `/${String(creds.prefix).replace(/^\/+/, '')}` : ''}`,
    passphrase,
    s3: { endpoint: String(creds.endpoint ?? ''), accessKey: String(creds.accessKey ?? ''), secretKey: String(creds.secretKey ?? ''), region: creds.region ? String(creds.region) : undefined },
  };
}

export function pgConnectionOf(creds: ICredentialDataDecryptedObject): PgConnection {
  return {
    host: String(creds.host ?? 'localhost'),
    port: Number(creds.port ?? 5432),
    user: String(creds.user ?? 'postgres'),
    password: creds.password ? String(creds.password) : undefined,
    sslmode: creds.sslmode ? String(creds.sslmode) : undefined,
    database: creds.database ? String(creds.database) : 'postgres',
  };
}

export function minioOf(creds: ICredentialDataDecryptedObject, buckets: string[] = []): MinioSource {
  return {
    endpoint: String(creds.endpoint ?? ''),
    accessKey: String(creds.accessKey ?? ''),
    secretKey: String(creds.secretKey ?? ''),
    region: creds.region ? String(creds.region) : undefined,
    buckets,
  };
}
