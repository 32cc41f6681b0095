import type { INodeProperties } from 'n8n-workflow';

/** Parameters several nodes share. */
export const backupTypeProperty: INodeProperties = {
  displayName: 'Backup Type',
  name: 'backupType',
  type: 'options',
  options: [
    { name: 'Incremental', value: 'incremental', description: 'Build on the last snapshot of this target; unchanged data is not read again' },
    { name: 'Differential', value: 'differential', description: 'Build on the last full snapshot of this target' },
    { name: 'Full', value: 'full', description: 'Read everything again' },
  ],
  default: 'incremental',
  description: 'Every snapshot restores on its own, whatever its type',
};

export const tagsProperty: INodeProperties = {
  displayName: 'Tags',
  name: 'tags',
  type: 'string',
  default: '',
  placeholder: 'env=prod, app=shop',
  description: 'Key=value pairs, comma-separated, stored with the snapshot',
};

export const jobIdProperty: INodeProperties = {
  displayName: 'Job ID',
  name: 'jobId',
  type: 'string',
  default: '',
  description: 'A catalog job to record this backup under, as a step (needs the Backup Catalog credential); empty for none',
};

export const snapshotProperty: INodeProperties = {
  displayName: 'Snapshot',
  name: 'snapshot',
  type: 'string',
  default: 'latest',
  description: "A snapshot ID (or a unique prefix of one), or 'latest'",
};

export const snapshotTargetProperty: INodeProperties = {
  displayName: 'Of Target',
  name: 'ofTarget',
  type: 'string',
  default: '',
  placeholder: 'postgres',
  description: "With 'latest': the newest snapshot of this backup target (postgres, files, scenarios, minio, …)",
};
