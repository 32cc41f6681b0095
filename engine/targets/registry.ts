import type { BackupOptions } from '../archiver';
import { BackupError } from '../errors';
import type { Repository } from '../repository/repository';
import type { SnapshotRef } from '../snapshot';
import { verifyRestoredTree } from '../verify';
import { backupFiles, restoreFiles, type FilesRestoreOptions } from './files';
import { backupMinio, discoverBuckets, restoreMinio, verifyMinio, type MinioDestination, type MinioSource } from './minio';
import { backupPostgres, discoverDatabases, type PostgresBackupOptions } from './postgres/backup';
import type { PgConnection } from './postgres/connection';
import { restorePostgres, verifyPostgresRestore, type PostgresRestoreOptions } from './postgres/restore';
import { CLUSTER_TARGET } from './postgresCluster/baseBackup';
import { backupScenarios, discoverScenarios } from './scenarios';

/** What the engine offers for a kind of source: its module implements this. */
export interface BackupTarget<Source, Destination, BackupOpts = Omit<BackupOptions, 'target'>, RestoreOpts = object> {
  readonly name: string;
  readonly description: string;
  /** what a backup of this source would cover (databases, paths, scenarios, buckets); throws a one-line error when unreachable */
  discover(source: Source): Promise<string[]>;
  /** one or more snapshots; throws when nothing could be written */
  backup(repo: Repository, source: Source, opts: BackupOpts): Promise<SnapshotRef[]>;
  restore(repo: Repository, ref: SnapshotRef, destination: Destination, opts?: RestoreOpts): Promise<unknown>;
  /** checks a restore: restores into a scratch place (postgres), or compares a restored copy with the snapshot */
  verify(repo: Repository, ref: SnapshotRef, destination: Destination): Promise<{ ok: boolean }>;
}

export const postgresTarget: BackupTarget<PgConnection, PgConnection, Omit<PostgresBackupOptions, 'target'>, PostgresRestoreOptions> = {
  name: 'postgres',
  description: 'PostgreSQL databases (pg_dump) and globals (pg_dumpall --globals-only)',
  discover: (conn) => discoverDatabases(conn),
  backup: async (repo, conn, opts) => [await backupPostgres(repo, conn, opts)],
  restore: (repo, ref, conn, opts) => restorePostgres(repo, ref, conn, opts),
  verify: async (repo, ref, conn) => {
    const results = await verifyPostgresRestore(repo, ref, conn);
    return { ok: results.every((r) => r.ok), databases: results };
  },
};

export const filesTarget: BackupTarget<string[], string | undefined, Omit<BackupOptions, 'target'>, FilesRestoreOptions> = {
  name: 'files',
  description: 'files and directories, with their metadata',
  discover: async (paths) => paths,
  backup: async (repo, paths, opts) => [await backupFiles(repo, paths, opts)],
  restore: (repo, ref, to, opts) => restoreFiles(repo, ref, { ...opts, to }),
  verify: async (repo, ref, to) => verifyRestoredTree(repo, ref, to ?? '/'),
};

export const scenariosTarget: BackupTarget<string, string | undefined, Omit<BackupOptions, 'target'> & { only?: string[] }, FilesRestoreOptions> = {
  name: 'scenarios',
  description: 'every subdirectory of a root directory, each its own snapshot',
  discover: (root) => discoverScenarios(root),
  backup: async (repo, root, opts) => {
    const outcomes = await backupScenarios(repo, root, opts);
    const failed = outcomes.filter((o) => o.error);
    if (failed.length === outcomes.length && failed.length > 0) throw new BackupError(failed.map((f) => f.error).join('; '));
    return outcomes.flatMap((o) => (o.snapshot ? [o.snapshot] : []));
  },
  restore: (repo, ref, to, opts) => restoreFiles(repo, ref, { ...opts, to }),
  verify: async (repo, ref, to) => verifyRestoredTree(repo, ref, to ?? '/'),
};

export const minioTarget: BackupTarget<MinioSource, MinioDestination, NonNullable<Parameters<typeof backupMinio>[2]>> = {
  name: 'minio',
  description: 'MinIO/S3 buckets or prefixes, with object metadata',
  discover: (source) => (source.buckets.length ? Promise.resolve(source.buckets) : discoverBuckets(source)),
  backup: async (repo, source, opts) => [await backupMinio(repo, source, opts)],
  restore: (repo, ref, dest) => restoreMinio(repo, ref, dest),
  verify: (repo, ref, dest) => verifyMinio(repo, ref, dest),
};

/**
 * The one list of backup targets. Each entry says what the target is called,
 * what a backup request may say for it (the API's fields, the CLI's flags,
 * a schedule's settings), where its restores go, and the engine's
 * implementation. The API's schemas, the catalog, the CLI's help and the
 * tests that hold the nodes and workflows to it all read this list, so a new
 * target is its module, its entry here, and its tests (README: "Adding a
 * backup target").
 */

/** A field of a backup request that a target reads. */
export interface SourceField {
  /** the JSON field (snake_case), and the CLI flag `--<name with dashes>` */
  name: string;
  description: string;
  /** a list (a JSON array; a comma-separated flag) or one value */
  list: boolean;
  /**
   * a request without it takes the installation's default (the API's `defaults[fromDefault]`, set by
   * `setting`), else `fallback`; with none of them the request is refused
   */
  required?: { fromDefault: string; setting?: string; fallback?: string };
  /** its values are paths on this host: the path policy decides whether a backup may read them */
  hostPath?: boolean;
  /** each value must match this, else a 400 naming the field */
  pattern?: { regex: RegExp; message: string };
  maxLength: number;
  /** only the installation sets it (e.g. the scenarios root), never a request */
  settingOnly?: boolean;
}

/** Where a restore of a target's snapshots goes. */
export type RestoreKind = 'directory' | 'database' | 'bucket' | 'cluster';

export interface TargetEntry {
  name: string;
  description: string;
  fields: readonly SourceField[];
  restoresTo: RestoreKind;
  /** the engine's implementation; a cluster is restored to a moment instead (recoveryRunner.ts), not by snapshot */
  engine?: BackupTarget<never, never, never, never>;
}

const BUILT_IN: TargetEntry[] = [
  {
    name: 'postgres',
    description: postgresTarget.description,
    fields: [{ name: 'databases', description: 'databases to dump (default: all)', list: true, maxLength: 63 }],
    restoresTo: 'database',
    engine: postgresTarget as BackupTarget<never, never, never, never>,
  },
  {
    name: 'files',
    description: filesTarget.description,
    fields: [{ name: 'paths', description: 'absolute paths to back up', list: true, maxLength: 4096, required: { fromDefault: 'paths', setting: 'DBM_BACKUP_PATHS' }, hostPath: true, pattern: { regex: /^\//, message: 'must be an absolute path' } }],
    restoresTo: 'directory',
    engine: filesTarget as BackupTarget<never, never, never, never>,
  },
  {
    name: 'scenarios',
    description: scenariosTarget.description,
    fields: [
      { name: 'scenarios', description: 'only these scenarios (default: every subdirectory)', list: true, maxLength: 255 },
      { name: 'scenarios_root', description: 'the root whose subdirectories are the scenarios', list: false, maxLength: 4096, required: { fromDefault: 'scenariosRoot', setting: 'DBM_SCENARIOS_DIR' }, hostPath: true, settingOnly: true },
    ],
    restoresTo: 'directory',
    engine: scenariosTarget as BackupTarget<never, never, never, never>,
  },
  {
    name: 'minio',
    description: minioTarget.description,
    fields: [{ name: 'buckets', description: 'buckets, or bucket/prefix', list: true, maxLength: 1024, required: { fromDefault: 'buckets', setting: 'DBM_MINIO_BUCKETS' } }],
    restoresTo: 'bucket',
    engine: minioTarget as BackupTarget<never, never, never, never>,
  },
  {
    name: CLUSTER_TARGET,
    description: 'a whole PostgreSQL cluster: physical base backups and its WAL archive, restored to a moment',
    fields: [{ name: 'cluster', description: 'the name its WAL is archived under', list: false, maxLength: 64, required: { fromDefault: 'cluster', setting: 'DBM_PITR_CLUSTER', fallback: 'main' }, pattern: { regex: /^[A-Za-z0-9_.-]{1,64}$/, message: 'must be a cluster name (letters, digits, _ . -)' } }],
    restoresTo: 'cluster',
  },
];

const registry: TargetEntry[] = [...BUILT_IN];

/** Every target, in the order requests run them. */
export function targets(): readonly TargetEntry[] {
  return registry;
}

/** The targets' names, for enums (never empty). */
export function targetNames(): [string, ...string[]] {
  return registry.map((t) => t.name) as [string, ...string[]];
}

export function targetEntry(name: string): TargetEntry | undefined {
  return registry.find((t) => t.name === name);
}

/** Every field some target reads, once each (targets may share one). */
export function sourceFieldSpecs(): SourceField[] {
  const seen = new Map<string, SourceField>();
  for (const t of registry) for (const f of t.fields) if (!seen.has(f.name)) seen.set(f.name, f);
  return [...seen.values()];
}

/** Adds a target (a plugin, or a test's toy). Names are unique and lowercase. */
export function registerTarget(entry: TargetEntry): void {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(entry.name)) throw new Error(`target name ${JSON.stringify(entry.name)}: lowercase letters, digits and -`);
  if (targetEntry(entry.name)) throw new Error(`target ${entry.name} is registered already`);
  registry.push(entry);
}

/** Takes a registered target out again (tests). */
export function unregisterTarget(name: string): void {
  const i = registry.findIndex((t) => t.name === name && !BUILT_IN.includes(t));
  if (i >= 0) registry.splice(i, 1);
}
