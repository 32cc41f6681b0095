import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** A PostgreSQL server to back up or restore into. The password reaches pg_dump through its environment, never its command line. */
export class DbmPostgresApi implements ICredentialType {
  name = 'dbmPostgresApi';

  displayName = 'Backup Source: PostgreSQL';

  icon = 'file:../nodes/shared/backup.svg' as const;

  documentationUrl = 'https://github.com/data-backup-manager/n8n-nodes-data-backup-manager#targets';

  properties: INodeProperties[] = [
    { displayName: 'Host', name: 'host', type: 'string', default: 'localhost' },
    { displayName: 'Port', name: 'port', type: 'number', default: 5432 },
    { displayName: 'User', name: 'user', type: 'string', default: 'postgres' },
    { displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
    {
      displayName: 'SSL Mode',
      name: 'sslmode',
      type: 'options',
      options: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].map((m) => ({ name: m, value: m })),
      default: 'prefer',
    },
    {
      displayName: 'Maintenance Database',
      name: 'database',
      type: 'string',
      default: 'postgres',
      description: 'Database to connect to for listing the others and creating restored ones',
    },
  ];
}
