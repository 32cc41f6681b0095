import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** A MinIO/S3 endpoint whose buckets are backed up (or restored into). */
export class DbmMinioApi implements ICredentialType {
  name = 'dbmMinioApi';

  displayName = 'Backup Source: MinIO / S3';

  icon = 'file:../nodes/shared/backup.svg' as const;

  documentationUrl = 'https://github.com/data-backup-manager/n8n-nodes-data-backup-manager#targets';

  properties: INodeProperties[] = [
    { displayName: 'Endpoint', name: 'endpoint', type: 'string', default: '', placeholder: 'http://127.0.0.1:9000' },
    { displayName: 'Access Key', name: 'accessKey', type: 'string', default: '' },
    { displayName: 'Secret Key', name: 'secretKey', type: 'string', typeOptions: { password: true }, default: '' },
    { displayName: 'Region', name: 'region', type: 'string', default: 'us-east-1' },
  ];
}
