import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import { repositoryProperties } from './DbmRepositoryApi.credentials';

/** A second repository to copy snapshots into (3-2-1): the fields of the first, as a type of its own so one node can hold both. */
export class DbmCopyRepositoryApi implements ICredentialType {
  name = 'dbmCopyRepositoryApi';

  displayName = 'Backup Repository (Copy Destination)';

  icon = 'file:../nodes/shared/backup.svg' as const;

  documentationUrl = 'https://github.com/data-backup-manager/n8n-nodes-data-backup-manager#readme';

  properties: INodeProperties[] = repositoryProperties;
}
