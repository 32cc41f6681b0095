import { NodeConnectionTypes, type IDataObject, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { failedVerifications, listSnapshots, repositoryStats } from '../../engine';
import { pitrWindow, walClusters } from '../../engine/targets';
import { recordHealthCheck, type HealthProblem } from '../../catalog/healthChecks';
import { recentFailures, stuckJobs } from '../../catalog/jobs';
import { sharedCatalog } from '../shared/catalog';
import { credentialTest } from '../shared/credentialTests';
import { eachItem, splitList } from '../shared/items';
import { openRepository } from '../shared/repository';

/**
 * The monitor's eyes: jobs stuck running, failures of the last day, targets
 * whose newest snapshot is older than their schedule allows (a missed
 * schedule), failed verifications, and storage above a threshold. Outputs one
 * item with `ok` and the problems found; the monitor workflow alerts on them.
 */
export class BackupHealth implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup Health',
    name: 'backupHealth',
    icon: { light: 'file:backupHealth.svg', dark: 'file:backupHealth.dark.svg' },
    group: ['transform'],
    version: 1,
    subtitle: 'check backups',
    description: 'Find stuck and failed jobs, missed schedules, failed verifications and storage running full',
    defaults: { name: 'Backup Health' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [
      { name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' },
      { name: 'dbmCatalogApi', required: true, testedBy: 'dbmCatalogTest' },
    ],
    properties: [
      { displayName: 'Stuck After (Minutes)', name: 'stuckMinutes', type: 'number', default: 60, description: 'A running job with no sign of life for this long is stuck' },
      { displayName: 'Failures Within (Hours)', name: 'failureHours', type: 'number', default: 24 },
      { displayName: 'Expected Targets', name: 'targets', type: 'string', default: 'postgres,files', description: 'Targets that should have a recent snapshot, comma-separated' },
      { displayName: 'Max Snapshot Age (Hours)', name: 'maxAgeHours', type: 'number', default: 26, description: 'Older than this, a target has missed its schedule' },
      { displayName: 'Storage Capacity (GB)', name: 'capacityGb', type: 'number', default: 0, description: 'Size of the storage the repository lives on; 0: no capacity check' },
      { displayName: 'Warn Above (%)', name: 'warnPercent', type: 'number', default: 80 },
      {
        displayName: 'Max WAL Archive Lag (Minutes)',
        name: 'maxWalLagMinutes',
        type: 'number',
        default: 60,
        description: 'A cluster whose newest archived WAL is older than this has stopped archiving (or fallen behind); gaps in its WAL are always reported',
      },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    const catalog = await sharedCatalog(await this.getCredentials('dbmCatalogApi'));
    return await eachItem(this, async (i) => {
      const problems: IDataObject[] = [];
      for (const job of await stuckJobs(catalog, this.getNodeParameter('stuckMinutes', i, 60) as number)) {
        problems.push({ kind: 'stuck_job', job_id: job.id, message: `job ${job.id} (${job.kind}) has shown no progress since ${(job.heartbeat_at ?? job.started_at ?? job.created_at).toISOString()}` });
      }
      for (const job of await recentFailures(catalog, this.getNodeParameter('failureHours', i, 24) as number)) {
        problems.push({ kind: 'failed_job', job_id: job.id, message: `job ${job.id} (${job.kind}) failed: ${job.error ?? 'no reason recorded'}` });
      }
      const maxAgeMs = (this.getNodeParameter('maxAgeHours', i, 26) as number) * 3_600_000;
      for (const target of splitList(this.getNodeParameter('targets', i, '') as string)) {
        const latest = (await listSnapshots(repo, { target })).pop();
        if (!latest) problems.push({ kind: 'missed_schedule', target, message: `there is no ${target} snapshot at all` });
        else if (Date.now() - Date.parse(latest.snapshot.time) > maxAgeMs) {
          problems.push({ kind: 'missed_schedule', target, message: `the newest ${target} snapshot is from ${latest.snapshot.time}` });
        }
      }
      for (const v of await failedVerifications(repo, 1)) {
        problems.push({ kind: 'verification_failed', snapshot: v.snapshot, message: `snapshot ${v.snapshot.slice(0, 8)} (${v.target}) failed verification: ${v.errors.slice(0, 3).join('; ')}` });
      }
      // point-in-time recovery: every archived cluster's window, its gaps, and whether archiving still keeps up
      const maxLagMs = (this.getNodeParameter('maxWalLagMinutes', i, 60) as number) * 60_000;
      for (const cluster of await walClusters(repo)) {
        const window = await pitrWindow(repo, cluster);
        for (const gap of window.gaps) {
          problems.push({ kind: 'wal_gap', cluster, message: `cluster ${cluster}: ${gap.count} WAL segment(s) missing (${gap.first} … ${gap.last}); nothing after ${gap.restorableUntil ?? 'it'} is restorable` });
        }
        if (window.baseBackups.length > 0 && window.latest && maxLagMs > 0 && Date.now() - Date.parse(window.latest) > maxLagMs) {
          problems.push({ kind: 'wal_archive_lag', cluster, message: `cluster ${cluster}: the newest restorable moment is ${window.latest}; WAL archiving has stopped or fallen behind` });
        }
      }
      const stats = await repositoryStats(repo);
      const capacity = (this.getNodeParameter('capacityGb', i, 0) as number) * 1e9;
      const warn = this.getNodeParameter('warnPercent', i, 80) as number;
      const usedPercent = capacity > 0 ? (100 * stats.bytes) / capacity : null;
      if (usedPercent !== null && usedPercent > warn) {
        problems.push({ kind: 'storage', message: `the repository uses ${usedPercent.toFixed(1)} % of ${capacity / 1e9} GB (warning above ${warn} %)` });
      }
      // kept for the web console's alerts; a catalog that cannot take it does not hide the problems from this run's alert
      await recordHealthCheck(catalog, problems as HealthProblem[]).catch(() => undefined);
      return { ok: problems.length === 0, problems, storage: { ...stats, usedPercent }, checkedAt: new Date().toISOString() };
    });
  }
}
