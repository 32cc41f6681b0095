import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { finishJob, unfinishedJobs } from '../catalog/jobs';
import type { N8nClient } from './n8n';

/**
 * Every job ends. The reconciler compares the jobs the catalog says are
 * running with the n8n executions running them, every few seconds, and ends
 * those whose execution is gone, crashed, failed or was stopped, with the
 * real reason, even when the workflow could not say so itself (n8n killed,
 * the catalog down while the error workflow ran). A job a workflow never
 * claimed is failed after a grace period.
 */
export interface ReconcilerOptions {
  intervalMs?: number;
  /** how long a queued job may wait for a workflow to claim it */
  queuedGraceMs?: number;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export interface Reconciled {
  id: string;
  status: 'failed' | 'cancelled';
  reason: string;
}

type Execution = { status: string; data?: { resultData?: { error?: { message?: string }; lastNodeExecuted?: string } } };

export class JobReconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly catalog: Pool,
    private readonly n8n: Pick<N8nClient, 'execution' | 'executionStatus'>,
    private readonly opts: ReconcilerOptions = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.reconcile()
        .catch((err: Error) => this.opts.log?.warn({ err: err.message }, 'job reconciliation skipped'))
        .finally(() => (this.running = null));
    }, this.opts.intervalMs ?? 5000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass; answers what it ended. Throws when the catalog cannot be read (the next pass tries again). */
  async reconcile(): Promise<Reconciled[]> {
    const ended: Reconciled[] = [];
    for (const job of await unfinishedJobs(this.catalog)) {
      const verdict = job.n8n_execution_id ? await this.verdictOf(job.kind, job.n8n_execution_id) : this.unclaimed(job.created_at);
      if (!verdict) continue;
      if (await finishJob(this.catalog, job.id, { status: verdict.status, error: verdict.reason })) {
        this.opts.log?.warn({ job: job.id, execution: job.n8n_execution_id, reason: verdict.reason }, `job ${verdict.status} by the reconciler`);
        ended.push({ id: job.id, ...verdict });
      }
    }
    return ended;
  }

  private unclaimed(created: Date): Omit<Reconciled, 'id'> | null {
    const grace = this.opts.queuedGraceMs ?? 120_000;
    if (Date.now() - created.getTime() < grace) return null;
    return { status: 'failed', reason: `no workflow took the job within ${Math.round(grace / 1000)} s (n8n did not run it)` };
  }

  /** What n8n's record of the execution says of the job; null while it runs, or when n8n cannot be asked now. */
  private async verdictOf(kind: string, executionId: string): Promise<Omit<Reconciled, 'id'> | null> {
    let execution: Execution;
    try {
      // every few seconds per running job: the status alone; the data (with the error) only for a failed one
      execution = await this.n8n.executionStatus(executionId);
      if (execution.status === 'error') execution = (await this.n8n.execution(executionId)) as Execution;
    } catch (err) {
      if (/: 404 /.test((err as Error).message)) return { status: 'failed', reason: `n8n has no record of execution ${executionId}: n8n was stopped or reset during the ${kind}` };
      return null; // n8n unreachable: the supervisor restarts it, and the next pass asks again
    }
    switch (execution.status) {
      case 'crashed':
        return { status: 'failed', reason: `n8n stopped during the ${kind} (execution ${executionId} crashed); restart the job` };
      case 'canceled':
        return { status: 'cancelled', reason: `its n8n execution ${executionId} was stopped` };
      case 'error': {
        const r = execution.data?.resultData;
        return { status: 'failed', reason: r?.error?.message ? `${r.lastNodeExecuted ? `${r.lastNodeExecuted}: ` : ''}${r.error.message}` : `n8n execution ${executionId} failed` };
      }
      case 'success':
        return { status: 'failed', reason: `the workflow (execution ${executionId}) ended without completing the job` };
      default:
        return null; // new, running, waiting
    }
  }
}
