import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { checkSnapshot, saveVerificationReport } from '../../engine';
import { verifyPostgresRestore } from '../../engine/targets';
import { credentialTest } from '../shared/credentialTests';
import { snapshotProperty, snapshotTargetProperty } from '../shared/descriptions';
import { eachItem, snapshotFromParameters } from '../shared/items';
import { openRepository, pgConnectionOf } from '../shared/repository';

export class VerifyChecksum implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Verify Backup',
    name: 'verifyChecksum',
    icon: { light: 'file:verifyChecksum.svg', dark: 'file:verifyChecksum.dark.svg' },
    group: ['transform'],
    version: 1,
    subtitle: '={{$parameter["mode"]}}',
    description: "Verify a snapshot: its structure, all or a share of its data re-hashed, and for PostgreSQL a restore test; the report is kept in the repository's verification/",
    defaults: { name: 'Verify Backup' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmPostgresApi', required: true, testedBy: 'dbmPostgresTest', displayOptions: { show: { restoreTest: [true] } } },
    ],
    properties: [
      snapshotProperty,
      snapshotTargetProperty,
      {
        displayName: 'Mode',
        name: 'mode',
        type: 'options',
        options: [
          { name: 'Structure', value: 'structure', description: 'Every blob indexed, every pack present with its size' },
          { name: 'Read All Data', value: 'readData', description: 'Download, decrypt and re-hash every blob of the snapshot' },
          { name: 'Read a Share of the Data', value: 'subset', description: 'The same for a random share of the blobs' },
        ],
        default: 'readData',
      },
      { displayName: 'Share (%)', name: 'percent', type: 'number', default: 10, typeOptions: { minValue: 1, maxValue: 100 }, displayOptions: { show: { mode: ['subset'] } } },
      { displayName: 'PostgreSQL Restore Test', name: 'restoreTest', type: 'boolean', default: false, description: 'Whether to restore each database into a scratch database and compare row counts with the snapshot' },
      { displayName: 'Fail When Verification Fails', name: 'failOnError', type: 'boolean', default: true, description: 'Whether a failed verification stops the workflow (and reaches its error workflow)' },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    return eachItem(this, async (i) => {
      const started = Date.now();
      const ref = await snapshotFromParameters(this, repo, i);
      const mode = this.getNodeParameter('mode', i) as string;
      const percent = mode === 'readData' ? 100 : mode === 'subset' ? (this.getNodeParameter('percent', i) as number) : 0;
      const check = await checkSnapshot(repo, ref, { readDataPercent: percent });
      let restoreTest;
      if (this.getNodeParameter('restoreTest', i, false)) {
        restoreTest = await verifyPostgresRestore(repo, ref, pgConnectionOf(await this.getCredentials('dbmPostgresApi', i)));
        for (const r of restoreTest) if (!r.ok) check.errors.push(`restore test of ${r.database}: row counts differ (${r.mismatches.map((m) => m.table).join(', ')})`);
        check.ok = check.errors.length === 0;
      }
      const report = { ...check, restoreTest };
      const reportKey = await saveVerificationReport(repo, report);
      if (!check.ok && this.getNodeParameter('failOnError', i, true)) {
        throw new Error(`snapshot ${ref.id.slice(0, 8)} failed verification: ${check.errors.slice(0, 5).join('; ')}`);
      }
      return { ...report, reportKey, durationMs: Date.now() - started };
    });
  }
}
