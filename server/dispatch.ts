import type { Pool } from 'pg';
import { attachExecution, createJob, finishJob, newClaim, type Job, type JobKind } from '../catalog/jobs';
import { ApiError } from './errors';
import { triggerWorkflow, TriggerError, type WorkflowEndpoint } from './n8n/trigger';

/** The on-demand workflow that runs each kind of job (its webhook path). */
const WEBHOOK: Record<JobKind, string> = { backup: 'dbm-backup', restore: 'dbm-restore', verify: 'dbm-verify', cleanup: 'dbm-retention' };

export interface NewJob {
  kind: JobKind;
  type?: string | null;
  targets: string[];
  description?: string | null;
  retentionDays?: number | null;
  /** the workflow's request body, kept so that a restart can send it again */
  request: Record<string, unknown>;
  restartOf?: string;
  /** a job id chosen beforehand (when the request must name it) */
  id?: string;
}

/**
 * Records a job, then hands it to its workflow. The job exists before n8n is
 * asked, so a request is never lost: when n8n cannot take it, the job is
 * recorded failed with the reason and the caller gets a 503 naming the job.
 * The workflow links the job to its execution when it claims it.
 */
export async function dispatchJob(deps: { catalog: Pool; n8n: WorkflowEndpoint }, job: NewJob): Promise<Job> {
  const claim = newClaim();
  const created = await createJob(deps.catalog, {
    claim,
    kind: job.kind,
    type: job.type,
    targets: job.targets,
    description: job.description,
    retentionDays: job.retentionDays,
    params: job.request,
    restartOf: job.restartOf,
    id: job.id,
  });
  try {
    // The call carries no authority of its own: the job's id and a one-time claim. The workflow takes
    // the request from the catalog, so a captured call can neither change it nor run it again.
    const { executionId } = await triggerWorkflow(deps.n8n, WEBHOOK[job.kind], { job_id: created.id, claim });
    // queue mode answers before a worker claims the job: linked now, the reconciler follows the queued
    // execution (and waits while n8n says it waits) instead of failing a job no workflow took in time
    if (/^\d+$/.test(executionId)) await attachExecution(deps.catalog, created.id, executionId);
  } catch (err) {
    if (!(err instanceof TriggerError)) throw err;
    await finishJob(deps.catalog, created.id, { status: 'failed', error: err.message });
    throw new ApiError(503, `${job.kind} job ${created.id} failed to start: ${err.message}`);
  }
  return created;
}

/** A job's workflow request again, for a restart; jobs a schedule started carry no request, so it is rebuilt. */
export function requestOf(job: Job): Record<string, unknown> {
  if (Object.keys(job.params).length > 0 && job.kind !== 'backup') return { ...job.params };
  return { ...job.params, type: job.type ?? 'incremental', targets: job.targets, retention_days: job.retention_days ?? undefined };
}
