import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { newProgress, type BackupType } from '../../engine';
import { backupCluster, backupPostgres, CLUSTER_TARGET, clusterMetaOf, postgresMeta, type ClusterMeta, type DumpFormat } from '../../engine/targets';
import { credentialTest } from '../shared/credentialTests';
import { backupTypeProperty, jobIdProperty, tagsProperty } from '../shared/descriptions';
import { sourceKey } from '../../catalog/sourceLocks';
import { reportStep, withProgress, withSourceLock } from '../shared/catalog';
import { eachItem, parseTagList, snapshotJson, splitList } from '../shared/items';
import { backupLimits } from '../shared/limits';
import { openRepository, pgConnectionOf } from '../shared/repository';

export class BackupPostgres implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup PostgreSQL',
    name: 'backupPostgres',
    icon: { light: 'file:backupPostgres.svg', dark: 'file:backupPostgres.dark.svg' },
    group: ['output'],
    version: 1,
    subtitle: '={{$parameter["mode"] === "physical" ? "base backup of " + $parameter["cluster"] : ($parameter["databases"] || "all databases")}}',
    description: 'Dump PostgreSQL databases with pg_dump, or take a base backup of the whole cluster for point-in-time recovery, streamed into the backup repository',
    defaults: { name: 'Backup PostgreSQL' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmCatalogApi', required: false, testedBy: 'dbmCatalogTest' },
      { name: 'dbmPostgresApi', required: true, testedBy: 'dbmPostgresTest' },
    ],
    properties: [
      {
        displayName: 'Mode',
        name: 'mode',
        type: 'options',
        options: [
          { name: 'Logical (Pg_dump per Database)', value: 'logical', description: 'Databases restorable one by one, as they were at the dump' },
          { name: 'Physical (Base Backup of the Cluster)', value: 'physical', description: 'The whole cluster with pg_basebackup: with its archived WAL, restorable to any moment' },
        ],
        default: 'logical',
      },
      {
        displayName: 'Cluster',
        name: 'cluster',
        type: 'string',
        default: 'main',
        displayOptions: { show: { mode: ['physical'] } },
        description: 'The name its WAL is archived under (repo wal-push --cluster)',
      },
      {
        displayName: 'Databases',
        name: 'databases',
        type: 'string',
        default: '',
        placeholder: 'shop, crm',
        displayOptions: { show: { mode: ['logical'] } },
        description: 'Comma-separated; empty for every database (templates excluded)',
      },
      {
        displayName: 'Include Roles and Tablespaces',
        name: 'globals',
        type: 'boolean',
        default: true,
        displayOptions: { show: { mode: ['logical'] } },
        description: 'Whether to include pg_dumpall --globals-only',
      },
      {
        displayName: 'Dump Format',
        name: 'format',
        type: 'options',
        displayOptions: { show: { mode: ['logical'] } },
        options: [
          { name: 'Plain SQL', value: 'plain', description: 'Faster to back up and restore here (see bench/postgres)' },
          { name: 'Custom Archive', value: 'custom', description: "pg_restore's format, uncompressed (the repository compresses)" },
        ],
        default: 'plain',
      },
      backupTypeProperty,
      tagsProperty,
      jobIdProperty,
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    const conn = pgConnectionOf(await this.getCredentials('dbmPostgresApi'));
    return eachItem(this, async (i) => {
      if (this.getNodeParameter('mode', i, 'logical') === 'physical') {
        const progress = newProgress();
        const clusterName = this.getNodeParameter('cluster', i, 'main') as string;
        const base = await withSourceLock(this, i, sourceKey(CLUSTER_TARGET, [clusterName]), () => withProgress(this, i, CLUSTER_TARGET, progress, () =>
          backupCluster(repo, conn, {
            cluster: clusterName,
            type: this.getNodeParameter('backupType', i) as BackupType,
            tags: parseTagList(this.getNodeParameter('tags', i, '') as string),
            ...backupLimits(this),
            progress,
          }),
        ));
        const cluster = clusterMetaOf(base) as ClusterMeta; // backupCluster always writes it
        const out = snapshotJson(base);
        return { ...out, recordedInJob: await reportStep(this, i, out), cluster: cluster.cluster, timeline: cluster.timeline, startLsn: cluster.startLsn, stopLsn: cluster.stopLsn };
      }
      const progress = newProgress();
      const databases = splitList(this.getNodeParameter('databases', i, '') as string);
      const ref = await withSourceLock(this, i, sourceKey('postgres', (databases.length ? databases : ['*']).map((d) => `${conn.host}:${conn.port}/${d}`)), () => withProgress(this, i, 'postgres', progress, () =>
        backupPostgres(repo, conn, {
          databases,
          globals: this.getNodeParameter('globals', i, true) as boolean,
          format: this.getNodeParameter('format', i, 'plain') as DumpFormat,
          type: this.getNodeParameter('backupType', i) as BackupType,
          tags: parseTagList(this.getNodeParameter('tags', i, '') as string),
          ...backupLimits(this),
          progress,
        }),
      ));
      const meta = postgresMeta(ref);
      const out = snapshotJson(ref);
      return {
        ...out,
        recordedInJob: await reportStep(this, i, out),
        serverVersion: meta.serverVersion,
        databases: meta.databases.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, tables: Object.keys(d.rowCounts).length })),
      };
    });
  }
}
