import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { newProgress, type BackupType } from '../../engine';
import { backupMinio, type MinioProgress } from '../../engine/targets';
import { credentialTest } from '../shared/credentialTests';
import { backupTypeProperty, jobIdProperty, tagsProperty } from '../shared/descriptions';
import { sourceKey } from '../../catalog/sourceLocks';
import { reportStep, withProgress, withSourceLock } from '../shared/catalog';
import { eachItem, parseTagList, snapshotJson, splitList } from '../shared/items';
import { backupLimits } from '../shared/limits';
import { minioOf, openRepository } from '../shared/repository';

export class BackupMinio implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup MinIO',
    name: 'backupMinio',
    icon: { light: 'file:backupMinio.svg', dark: 'file:backupMinio.dark.svg' },
    group: ['output'],
    version: 1,
    subtitle: '={{$parameter["buckets"]}}',
    description: 'Back up MinIO/S3 buckets with their object metadata; unchanged objects are not downloaded again',
    defaults: { name: 'Backup MinIO' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmCatalogApi', required: false, testedBy: 'dbmCatalogTest' },
      { name: 'dbmMinioApi', required: true, testedBy: 'dbmMinioTest' },
    ],
    properties: [
      {
        displayName: 'Buckets',
        name: 'buckets',
        type: 'string',
        default: '',
        placeholder: 'uploads, logs/2026/',
        description: 'Comma-separated buckets, or bucket/prefix',
      },
      backupTypeProperty,
      tagsProperty,
      jobIdProperty,
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    const source = await this.getCredentials('dbmMinioApi');
    return eachItem(this, async (i) => {
      const progress: MinioProgress = { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 };
      const buckets = splitList(this.getNodeParameter('buckets', i) as string);
      const ref = await withSourceLock(this, i, sourceKey('minio', buckets.map((b) => `${String(source.endpoint)}/${b}`)), () => withProgress(this, i, 'minio', progress, () =>
        backupMinio(repo, minioOf(source, buckets), {
          type: this.getNodeParameter('backupType', i) as BackupType,
          tags: parseTagList(this.getNodeParameter('tags', i, '') as string),
          ...backupLimits(this),
          progress,
        }),
      ));
      const out = snapshotJson(ref);
      return { ...out, objectsDownloaded: progress.objectsDownloaded, objectsUnchanged: progress.objectsUnchanged, recordedInJob: await reportStep(this, i, out) };
    });
  }
}
