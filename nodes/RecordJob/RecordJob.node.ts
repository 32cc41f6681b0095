import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { attachExecution, claimJob, ensureJob, failJobOfExecution, finishJob, markRunning, recordStep } from '../../catalog/jobs';
import { runnerName, sharedCatalog } from '../shared/catalog';
import { credentialTest } from '../shared/credentialTests';
import { eachItem } from '../shared/items';

/**
 * Records a job's progress in the catalog, so that a workflow started by the
 * server keeps its job up to date: claimed (the request the API recorded,
 * taken once and linked to this n8n execution) or started (a schedule's run),
 * a target's step done, completed; and, from the error workflow, failed.
 */
export class RecordJob implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Record Backup Job',
    name: 'recordJob',
    icon: { light: 'file:recordJob.svg', dark: 'file:recordJob.dark.svg' },
    group: ['transform'],
    version: 1,
    subtitle: '={{$parameter["operation"]}}',
    description: 'Record a backup job in the catalog: started, a step done, completed, or failed',
    defaults: { name: 'Record Backup Job' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [{ name: 'dbmCatalogApi', required: true, testedBy: 'dbmCatalogTest' }],
    properties: [
      {
        displayName: 'Operation',
        name: 'operation',
        type: 'options',
        noDataExpression: true,
        options: [
          { name: 'Claim', value: 'claim', action: 'Take the job the API recorded and output its request' },
          { name: 'Start', value: 'start', action: 'Mark the job running, linked to this execution' },
          { name: 'Step', value: 'step', action: 'Record a target step from the incoming snapshot' },
          { name: 'Complete', value: 'complete', action: 'Mark the job completed' },
          { name: 'Fail Execution', value: 'failExecution', action: 'Mark the job of a failed execution as failed' },
        ],
        default: 'start',
      },
      { displayName: 'Job ID', name: 'jobId', type: 'string', default: '', displayOptions: { show: { operation: ['claim', 'start', 'step', 'complete'] } }, description: 'Empty: nothing is recorded (a run not started by the server)' },
      {
        displayName: 'Claim',
        name: 'claim',
        type: 'string',
        typeOptions: { password: true },
        default: '',
        displayOptions: { show: { operation: ['claim'] } },
        description: 'The one-time claim the API sent with the job ID; the job is taken once, while it is queued',
      },
      { displayName: 'Execution ID', name: 'executionId', type: 'string', default: '={{ $execution.id }}', displayOptions: { show: { operation: ['claim', 'start', 'failExecution'] } } },
      { displayName: 'Error', name: 'error', type: 'string', default: '', displayOptions: { show: { operation: ['failExecution'] } } },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const pool = await sharedCatalog(await this.getCredentials('dbmCatalogApi'));
    const items = this.getInputData();
    return await eachItem(this, async (i) => {
      const operation = this.getNodeParameter('operation', i) as string;
      const passThrough = { ...items[i].json };
      if (operation === 'failExecution') {
        const job = await failJobOfExecution(pool, String(this.getNodeParameter('executionId', i)), String(this.getNodeParameter('error', i, '')) || 'the workflow failed');
        return { ...passThrough, jobId: job, recorded: job !== null };
      }
      const jobId = String(this.getNodeParameter('jobId', i, '') ?? '');
      if (operation === 'claim') {
        // The webhook's body is not trusted: what runs is the request the API recorded, taken once.
        const job = await claimJob(pool, jobId, String(this.getNodeParameter('claim', i, '') ?? ''), String(this.getNodeParameter('executionId', i)), runnerName());
        return { jobId: job.id, kind: job.kind, body: { ...job.params, job_id: job.id } };
      }
      if (!jobId) return { ...passThrough, recorded: false };
      if (operation === 'start') {
        // A run the server did not start (a schedule) describes itself in its request body.
        const body = (items[i].json.body ?? {}) as { type?: unknown; targets?: unknown };
        await ensureJob(pool, jobId, 'backup', {
          description: `started by workflow ${this.getWorkflow().name ?? ''}`.trim(),
          type: typeof body.type === 'string' ? body.type : undefined,
          targets: Array.isArray(body.targets) ? body.targets.map(String) : undefined,
        });
        await attachExecution(pool, jobId, String(this.getNodeParameter('executionId', i)), runnerName());
        return { ...passThrough, recorded: await markRunning(pool, jobId) };
      }
      if (operation === 'step') {
        const s = items[i].json;
        await recordStep(pool, jobId, {
          target: String(s.target ?? 'all'),
          status: s.error || s.ok === false ? 'failed' : 'completed',
          // backups and restores name their snapshot snapshotId; verification reports, snapshot
          snapshot_id: ((s.snapshotId ?? s.snapshot) as string) ?? null,
          // a backup's or verification's bytes read; a restore's bytes written
          bytes_read: ((s.bytesRead ?? s.bytesWritten) as number) ?? null,
          bytes_added: (s.bytesAdded as number) ?? null,
          bytes_stored: (s.bytesStored as number) ?? null,
          duration_ms: (s.durationMs as number) ?? null,
          error: (s.error as string) ?? null,
          details: stepDetails(s),
        });
        return { ...passThrough, recorded: true };
      }
      return { ...passThrough, recorded: await finishJob(pool, jobId, { status: 'completed' }) };
    });
  }
}

/** What a step keeps of its item: everything but bulk (binary data, long lists beyond 16 KiB of JSON). */
function stepDetails(item: Record<string, unknown>): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) {
    if (['target', 'snapshotId', 'snapshot', 'bytesRead', 'bytesWritten', 'bytesAdded', 'bytesStored', 'durationMs', 'error', 'body', 'headers', 'recorded'].includes(key)) continue;
    if (JSON.stringify(value ?? null).length > 16_384) details[key] = Array.isArray(value) ? { count: value.length, truncated: true } : { truncated: true };
    else details[key] = value;
  }
  return details;
}
