import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** The fields of a repository credential (also those of the copy destination). */
export const repositoryProperties: INodeProperties[] = [
    {
      displayName: 'Storage',
      name: 'storage',
      type: 'options',
      options: [
        { name: 'Local Directory', value: 'local' },
        { name: 'MinIO / S3', value: 's3' },
      ],
      default: 's3',
    },
    {
      displayName: 'Directory',
      name: 'path',
      type: 'string',
      default: '',
      placeholder: '/var/backups/repository',
      displayOptions: { show: { storage: ['local'] } },
      description: 'Absolute path of the repository directory on the n8n host',
    },
    {
      displayName: 'Endpoint',
      name: 'endpoint',
      type: 'string',
      default: '',
      placeholder: 'http://127.0.0.1:9000',
      displayOptions: { show: { storage: ['s3'] } },
      description: 'URL of the S3 endpoint; https:// uses TLS',
    },
    {
      displayName: 'Access Key',
      name: 'accessKey',
      type: 'string',
      default: '',
      displayOptions: { show: { storage: ['s3'] } },
    },
    {
      displayName: 'Secret Key',
      name: 'secretKey',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      displayOptions: { show: { storage: ['s3'] } },
    },
    {
      displayName: 'Bucket',
      name: 'bucket',
      type: 'string',
      default: 'backups',
      displayOptions: { show: { storage: ['s3'] } },
    },
    {
      displayName: 'Prefix',
      name: 'prefix',
      type: 'string',
      default: '',
      displayOptions: { show: { storage: ['s3'] } },
      description: 'Key prefix of the repository inside the bucket (optional)',
    },
    {
      displayName: 'Region',
      name: 'region',
      type: 'string',
      default: 'us-east-1',
      displayOptions: { show: { storage: ['s3'] } },
    },
    {
      displayName: 'Repository Passphrase',
      name: 'passphrase',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      description: 'Encrypts everything in the repository. Without it no backup can be read: keep a copy somewhere safe.',
    },
    {
      displayName: 'Create If Missing',
      name: 'createIfMissing',
      type: 'boolean',
      default: true,
      description: 'Whether to create the repository (and the bucket) on first use',
    },
    {
      displayName: 'Compression',
      name: 'compression',
      type: 'options',
      options: [
        { name: 'Default (Zstd Level 3)', value: 'default' },
        { name: 'Fast (Zstd Level 1)', value: 'fast' },
        { name: 'Off', value: 'off' },
      ],
      default: 'default',
      displayOptions: { show: { createIfMissing: [true] } },
      description: 'How a repository created on first use compresses, for its whole life (an existing one keeps its own). Fast compresses about twice as fast and stores a few percent more on most data.',
    },
];

/** Where backups go: a local directory or a MinIO/S3 bucket, and the key that opens it. */
export class DbmRepositoryApi implements ICredentialType {
  name = 'dbmRepositoryApi';

  displayName = 'Backup Repository';

  icon = 'file:../nodes/shared/backup.svg' as const;

  documentationUrl = 'https://github.com/data-backup-manager/n8n-nodes-data-backup-manager#the-repo-commands-a-repository-without-the-control-plane';

  properties: INodeProperties[] = repositoryProperties;
}
