import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** The catalog database (PostgreSQL) where jobs and their steps are recorded. */
export class DbmCatalogApi implements ICredentialType {
  name = 'dbmCatalogApi';

  displayName = 'Backup Catalog';

  icon = 'file:../nodes/shared/backup.svg' as const;

  documentationUrl = 'https://github.com/data-backup-manager/n8n-nodes-data-backup-manager#in-n8n';

  properties: INodeProperties[] = [
    { displayName: 'Host', name: 'host', type: 'string', default: 'localhost' },
    { displayName: 'Port', name: 'port', type: 'number', default: 5432 },
    { displayName: 'Database', name: 'database', type: 'string', default: 'backup_catalog' },
    { displayName: 'User', name: 'user', type: 'string', default: 'postgres' },
    { displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
    {
      displayName: 'SSL Mode',
      name: 'sslmode',
      type: 'options',
      options: ['disable', 'prefer', 'require', 'verify-full'].map((m) => ({ name: m, value: m })),
      default: 'disable',
    },
  ];
}
