import * as path from 'node:path';
import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { newProgress, type BackupType } from '../../engine';
import { backupFiles, backupScenarios } from '../../engine/targets';
import { credentialTest } from '../shared/credentialTests';
import { backupTypeProperty, jobIdProperty, tagsProperty } from '../shared/descriptions';
import { sourceKey } from '../../catalog/sourceLocks';
import { reportStep, withProgress, withSourceLock } from '../shared/catalog';
import { eachItem, parseTagList, snapshotJson, splitList } from '../shared/items';
import { backupLimits } from '../shared/limits';
import { allowedPath } from '../shared/pathPolicy';
import { openRepository } from '../shared/repository';

export class BackupFiles implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup Files',
    name: 'backupFiles',
    icon: { light: 'file:backupFiles.svg', dark: 'file:backupFiles.dark.svg' },
    group: ['output'],
    version: 1,
    subtitle: '={{$parameter["source"] === "scenarios" ? "scenarios" : "files"}}',
    description: 'Back up files and directories, or every scenario under a root, into the backup repository',
    defaults: { name: 'Backup Files' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmCatalogApi', required: false, testedBy: 'dbmCatalogTest' },
    ],
    properties: [
      {
        displayName: 'Source',
        name: 'source',
        type: 'options',
        options: [
          { name: 'Files and Directories', value: 'files' },
          { name: 'Scenarios', value: 'scenarios', description: 'Every subdirectory of a root, each its own snapshot' },
        ],
        default: 'files',
      },
      {
        displayName: 'Paths',
        name: 'paths',
        type: 'string',
        typeOptions: { rows: 3 },
        default: '',
        placeholder: '/etc/myapp, /srv/data',
        displayOptions: { show: { source: ['files'] } },
        description: 'Absolute paths on the n8n host, comma- or line-separated',
      },
      {
        displayName: 'Scenarios Root',
        name: 'root',
        type: 'string',
        default: '',
        placeholder: '/srv/scenarios',
        displayOptions: { show: { source: ['scenarios'] } },
      },
      {
        displayName: 'Only Scenarios',
        name: 'only',
        type: 'string',
        default: '',
        displayOptions: { show: { source: ['scenarios'] } },
        description: 'Comma-separated scenario names; empty for all',
      },
      { displayName: 'Exclude', name: 'exclude', type: 'string', default: '', placeholder: '*.tmp, cache/*', description: 'Glob patterns, comma-separated' },
      backupTypeProperty,
      tagsProperty,
      jobIdProperty,
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    return eachItem(this, async (i) => {
      const opts = {
        type: this.getNodeParameter('backupType', i) as BackupType,
        tags: parseTagList(this.getNodeParameter('tags', i, '') as string),
        ...backupLimits(this),
        excludes: splitList(this.getNodeParameter('exclude', i, '') as string),
      };
      if (this.getNodeParameter('source', i) === 'scenarios') {
        const only = splitList(this.getNodeParameter('only', i, '') as string);
        const root = this.getNodeParameter('root', i) as string;
        allowedPath('backup source', root);
        const outcomes = await withSourceLock(this, i, sourceKey('scenarios', [root]), () => backupScenarios(repo, root, { ...opts, only }));
        const failed = outcomes.filter((o) => o.error);
        if (failed.length === outcomes.length && failed.length > 0) throw new Error(failed.map((f) => f.error).join('; '));
        const rows = [];
        for (const o of outcomes) {
          if (!o.snapshot) rows.push({ scenario: o.scenario, error: o.error });
          else {
            const out = snapshotJson(o.snapshot);
            rows.push({ scenario: o.scenario, ...out, recordedInJob: await reportStep(this, i, out) });
          }
        }
        return rows;
      }
      const paths = splitList(this.getNodeParameter('paths', i) as string);
      for (const p of paths) allowedPath('backup source', p); // named as given in the snapshot, checked as really reached
      const progress = newProgress();
      const out = snapshotJson(
        await withSourceLock(this, i, sourceKey('files', paths.map((p) => path.resolve(p))), () => withProgress(this, i, 'files', progress, () => backupFiles(repo, paths, { ...opts, progress }))),
      );
      return { ...out, recordedInJob: await reportStep(this, i, out) };
    });
  }
}
