import type { Readable } from 'node:stream';
import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { backupStreams, copySnapshot } from '../../engine';
import { credentialTest } from '../shared/credentialTests';
import { snapshotProperty, snapshotTargetProperty, tagsProperty } from '../shared/descriptions';
import { eachItem, parseTagList, snapshotFromParameters, snapshotJson } from '../shared/items';
import { openRepository } from '../shared/repository';

export class UploadToMinio implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Upload to Backup Repository',
    name: 'uploadToMinio',
    icon: { light: 'file:uploadToMinio.svg', dark: 'file:uploadToMinio.dark.svg' },
    group: ['output'],
    version: 1,
    subtitle: '={{$parameter["operation"]}}',
    description: 'Store binary data from any node as a snapshot, or copy a snapshot to a second repository (3-2-1)',
    defaults: { name: 'Upload to Backup Repository' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmCopyRepositoryApi', required: true, testedBy: 'dbmRepositoryTest', displayOptions: { show: { operation: ['copySnapshot'] } } },
    ],
    properties: [
      {
        displayName: 'Operation',
        name: 'operation',
        type: 'options',
        noDataExpression: true,
        options: [
          { name: 'Store Binary Data', value: 'storeBinary', action: 'Store binary data as a snapshot' },
          { name: 'Copy Snapshot', value: 'copySnapshot', action: 'Copy a snapshot to a second repository' },
        ],
        default: 'storeBinary',
      },
      { displayName: 'Input Binary Field', name: 'binaryPropertyName', type: 'string', default: 'data', displayOptions: { show: { operation: ['storeBinary'] } } },
      { displayName: 'Target', name: 'target', type: 'string', default: 'uploads', displayOptions: { show: { operation: ['storeBinary'] } }, description: 'Backup target the snapshot belongs to' },
      { displayName: 'Entry Name', name: 'entryName', type: 'string', default: '', displayOptions: { show: { operation: ['storeBinary'] } }, description: 'Default: the file name of the binary data' },
      { ...tagsProperty, displayOptions: { show: { operation: ['storeBinary'] } } },
      { ...snapshotProperty, displayOptions: { show: { operation: ['copySnapshot'] } } },
      { ...snapshotTargetProperty, displayOptions: { show: { operation: ['copySnapshot'] } } },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    return eachItem(this, async (i) => {
      if (this.getNodeParameter('operation', i) === 'copySnapshot') {
        const dest = await openRepository(await this.getCredentials('dbmCopyRepositoryApi', i));
        const ref = await snapshotFromParameters(this, repo, i);
        const copy = await copySnapshot(repo, dest, ref);
        return { sourceSnapshotId: ref.id, ...snapshotJson(copy) };
      }
      const property = this.getNodeParameter('binaryPropertyName', i) as string;
      const binary = this.helpers.assertBinaryData(i, property);
      const name = (this.getNodeParameter('entryName', i, '') as string) || binary.fileName || property;
      // Binary data kept on disk is streamed; data n8n holds in memory is already a buffer.
      const open = async (): Promise<Readable> => {
        if (binary.id) return this.helpers.getBinaryStream(binary.id);
        const { Readable: R } = await import('node:stream');
        return R.from([await this.helpers.getBinaryDataBuffer(i, property)]);
      };
      const ref = await backupStreams(repo, [{ name: encodeURIComponent(name), open }], {
        target: this.getNodeParameter('target', i, 'uploads') as string,
        tags: parseTagList(this.getNodeParameter('tags', i, '') as string),
        type: 'full',
      });
      return { ...snapshotJson(ref), entry: name, mimeType: binary.mimeType };
    });
  }
}
