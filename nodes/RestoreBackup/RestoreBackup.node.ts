import { PassThrough } from 'node:stream';
import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { pathPolicyFromEnv, restoreStream, restoreTree, verifyRestoredTree, type RestoreProgress, type TreeVerification } from '../../engine';
import { restoreFiles, restoreMinio, restorePostgres, verifyMinio } from '../../engine/targets';
import { credentialTest } from '../shared/credentialTests';
import { snapshotProperty, snapshotTargetProperty } from '../shared/descriptions';
import { eachItem, snapshotFromParameters, splitList, WithBinary } from '../shared/items';
import { minioOf, openRepository, pgConnectionOf, repositoryConfigOf } from '../shared/repository';
import { allowedPath } from '../shared/pathPolicy';
import { recoverClusterItem } from './recoverCluster';

export class RestoreBackup implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Restore Backup',
    name: 'restoreBackup',
    icon: { light: 'file:restoreBackup.svg', dark: 'file:restoreBackup.dark.svg' },
    group: ['output'],
    version: 1,
    subtitle: '={{"to " + $parameter["destination"]}}',
    description: 'Restore a snapshot: files to a directory or their original place, databases into PostgreSQL, objects into MinIO, or a stream as binary data',
    defaults: { name: 'Restore Backup' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmPostgresApi', required: true, testedBy: 'dbmPostgresTest', displayOptions: { show: { destination: ['postgres'] } } },
      { name: 'dbmMinioApi', required: true, testedBy: 'dbmMinioTest', displayOptions: { show: { destination: ['minio'] } } },
    ],
    properties: [
      snapshotProperty,
      snapshotTargetProperty,
      {
        displayName: 'Destination',
        name: 'destination',
        type: 'options',
        options: [
          { name: 'Directory', value: 'directory', description: 'Files under a directory on the n8n host' },
          { name: 'Original Place', value: 'original', description: 'Files back where they were backed up from' },
          { name: 'PostgreSQL', value: 'postgres', description: 'Databases into a server' },
          { name: 'MinIO / S3', value: 'minio', description: 'Objects into buckets' },
          { name: 'Binary Data', value: 'binary', description: 'One stream entry (a dump) as n8n binary data' },
          { name: 'PostgreSQL Cluster at a Point in Time', value: 'cluster', description: 'A whole cluster from a base backup and archived WAL, to a moment, into a new data directory' },
        ],
        default: 'directory',
      },
      { displayName: 'Directory', name: 'directory', type: 'string', default: '', displayOptions: { show: { destination: ['directory'] } } },
      {
        displayName: 'Include',
        name: 'include',
        type: 'string',
        default: '',
        placeholder: 'etc-app/config',
        displayOptions: { show: { destination: ['directory', 'original'] } },
        description: 'Comma-separated glob patterns over paths in the snapshot; empty for all',
      },
      { displayName: 'Database', name: 'database', type: 'string', default: '', displayOptions: { show: { destination: ['postgres'] } }, description: 'Only this database of the snapshot; empty for all' },
      { displayName: 'Restore As', name: 'as', type: 'string', default: '', displayOptions: { show: { destination: ['postgres'] } }, description: 'A new name for the one database restored' },
      {
        displayName: 'Replace Existing',
        name: 'force',
        type: 'boolean',
        default: false,
        displayOptions: { show: { destination: ['postgres'] } },
        description: 'Whether to replace a database of the same name (it is swapped only once the restored copy has fully loaded)',
      },
      { displayName: 'Restore Roles and Tablespaces', name: 'globals', type: 'boolean', default: false, displayOptions: { show: { destination: ['postgres'] } } },
      { displayName: 'Owner', name: 'owner', type: 'string', default: '', displayOptions: { show: { destination: ['postgres'] } }, description: 'The role to own the restored database, instead of the one it had (empty: the one it had)' },
      { displayName: 'Bucket', name: 'bucket', type: 'string', default: '', displayOptions: { show: { destination: ['minio'] } }, description: 'Into this bucket instead of the original' },
      { displayName: 'Prefix', name: 'prefix', type: 'string', default: '', displayOptions: { show: { destination: ['minio'] } } },
      { displayName: 'Cluster', name: 'cluster', type: 'string', default: '', displayOptions: { show: { destination: ['cluster'] } }, description: 'The name its WAL is archived under' },
      {
        displayName: 'Recover To',
        name: 'recoveryTarget',
        type: 'options',
        default: 'time',
        displayOptions: { show: { destination: ['cluster'] } },
        options: [
          { name: 'A Moment', value: 'time' },
          { name: 'A WAL Position (LSN)', value: 'lsn' },
          { name: 'A Restore Point', value: 'name' },
          { name: 'A Transaction', value: 'xid' },
          { name: 'Everything Archived', value: 'latest' },
        ],
      },
      { displayName: 'Target Time', name: 'targetTime', type: 'dateTime', default: '', displayOptions: { show: { destination: ['cluster'], recoveryTarget: ['time'] } } },
      { displayName: 'Target LSN', name: 'targetLsn', type: 'string', default: '', placeholder: '0/3000060', displayOptions: { show: { destination: ['cluster'], recoveryTarget: ['lsn'] } } },
      { displayName: 'Restore Point', name: 'targetName', type: 'string', default: '', displayOptions: { show: { destination: ['cluster'], recoveryTarget: ['name'] } }, description: 'A name given to pg_create_restore_point()' },
      { displayName: 'Transaction ID', name: 'targetXid', type: 'string', default: '', displayOptions: { show: { destination: ['cluster'], recoveryTarget: ['xid'] } }, description: 'Recover up to the commit of this transaction' },
      { displayName: 'Data Directory', name: 'dataDirectory', type: 'string', default: '', displayOptions: { show: { destination: ['cluster'] } }, description: 'A new, empty directory on the n8n host' },
      { displayName: 'Start on Port', name: 'startPort', type: 'number', default: 0, displayOptions: { show: { destination: ['cluster'] } }, description: 'Start the restored cluster on this port and wait until it reached the target and promoted (0: leave it stopped)' },
      { displayName: 'Entry', name: 'entry', type: 'string', default: '', displayOptions: { show: { destination: ['binary'] } }, description: 'Which entry of a stream snapshot (empty when it has one)' },
      { displayName: 'Put Output File in Field', name: 'binaryPropertyName', type: 'string', default: 'data', displayOptions: { show: { destination: ['binary'] } } },
      {
        displayName: 'Verify',
        name: 'verify',
        type: 'boolean',
        default: true,
        displayOptions: { show: { destination: ['directory', 'original', 'minio'] } },
        description: 'Whether to compare what was restored with the snapshot afterwards',
      },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    return eachItem(this, async (i) => {
      const destination = this.getNodeParameter('destination', i) as string;
      if (destination === 'cluster') return recoverClusterItem(this, repo, i, repositoryConfigOf(await this.getCredentials('dbmRepositoryApi')));
      const started = Date.now();
      const ref = await snapshotFromParameters(this, repo, i);
      // durationMs is read when the object is built, at the end of each branch below
      const base = {
        snapshotId: ref.id,
        target: ref.snapshot.target,
        time: ref.snapshot.time,
        destination,
        get durationMs() {
          return Date.now() - started;
        },
      };
      if (destination === 'postgres') {
        const conn = pgConnectionOf(await this.getCredentials('dbmPostgresApi', i));
        const database = this.getNodeParameter('database', i, '') as string;
        const restored = await restorePostgres(repo, ref, conn, {
          databases: database ? [database] : undefined,
          as: (this.getNodeParameter('as', i, '') as string) || undefined,
          force: this.getNodeParameter('force', i, false) as boolean,
          globals: this.getNodeParameter('globals', i, false) as boolean,
          owner: (this.getNodeParameter('owner', i, '') as string) || undefined,
          protectedDatabases: pathPolicyFromEnv(process.env)?.protectedDatabases,
        });
        return { ...base, restored: restored.map((r) => ({ ...r })) };
      }
      if (destination === 'minio') {
        const dest = {
          ...minioOf(await this.getCredentials('dbmMinioApi', i)),
          bucket: (this.getNodeParameter('bucket', i, '') as string) || undefined,
          prefix: (this.getNodeParameter('prefix', i, '') as string) || undefined,
        };
        const result = await restoreMinio(repo, ref, dest);
        const check = this.getNodeParameter('verify', i, true) ? await verifyMinio(repo, ref, dest) : undefined;
        if (check && !check.ok) throw new Error(`restored objects differ from the snapshot: ${check.problems.map((p) => `${p.key}: ${p.problem}`).join('; ')}`);
        return { ...base, ...result, verified: !!check };
      }
      if (destination === 'binary') {
        const entry = (this.getNodeParameter('entry', i, '') as string) || undefined;
        const property = this.getNodeParameter('binaryPropertyName', i, 'data') as string;
        // Streamed into n8n's binary data store, never held whole in memory.
        const stream = new PassThrough();
        const writing = restoreStream(repo, ref, entry, stream).then(
          (n) => {
            stream.end();
            return n;
          },
          (err: unknown) => {
            stream.destroy(err as Error);
            throw err;
          },
        );
        const binary = await this.helpers.prepareBinaryData(stream, decodeURIComponent(entry ?? ref.snapshot.paths[0] ?? 'restore.bin'));
        return new WithBinary({ ...base, bytes: await writing }, { [property]: binary });
      }
      const include = splitList(this.getNodeParameter('include', i, '') as string);
      const verify = this.getNodeParameter('verify', i, true) as boolean;
      let restored: RestoreProgress & { locations: string[]; verification?: TreeVerification };
      if (destination === 'original') {
        // back where they came from: only places a backup may read, never the product's own data
        for (const original of ref.snapshot.paths) allowedPath('backup source', original);
        restored = await restoreFiles(repo, ref, { include, verify });
      } else {
        const dir = allowedPath('restore destination', this.getNodeParameter('directory', i) as string);
        restored = { ...(await restoreTree(repo, ref, dir, { include })), locations: [dir] };
        if (verify) restored.verification = await verifyRestoredTree(repo, ref, dir, { include });
      }
      const check = restored.verification;
      if (check && !check.ok) throw new Error(`restored files differ from the snapshot: ${check.problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`);
      return { ...base, ...restored, verification: check ? { ok: check.ok, files: check.files, bytes: check.bytes } : undefined };
    });
  }
}
