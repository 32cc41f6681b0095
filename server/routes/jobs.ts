import { Hono } from 'hono';
import { requireJobRole, roleForJob } from '../access';
import { requireRole } from '../auth';
import { finishJob, getJob, jobLog } from '../../catalog/jobs';
import type { AppDeps, AppEnv } from '../context';
import { dispatchJob, requestOf } from '../dispatch';
import { describe } from '../describe';
import { ApiError } from '../errors';
import { jobIdParam } from './params';

/** `/api/v1/jobs`: a job with its progress, steps and log; restarting one that failed or is stuck. */
export function jobRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/:id', describe({ operationId: 'getJob', summary: 'A job with its progress, steps and log', answers: 'json', params: { id: 'job id' } }), requireRole('viewer'), async (c) => {
    const id = jobIdParam(c.req.param('id'));
    const job = await getJob(deps.catalog, id);
    if (!job) throw new ApiError(404, `no job ${id}`);
    return c.json({ ...job, log: await jobLog(deps.catalog, id) });
  });

  app.post('/:id/restart', describe({ operationId: 'restartJob', summary: 'Run a failed, cancelled or stuck job again (needs the role its creation needed)', answers: 'job', params: { id: 'job id' } }), requireRole('operator'), async (c) => {
    const id = jobIdParam(c.req.param('id'));
    const job = await getJob(deps.catalog, id);
    if (!job) throw new ApiError(404, `no job ${id}`);
    const stuckMinutes = deps.settings?.stuckMinutes ?? 30;
    requireJobRole(c, roleForJob(job.kind, job.params));
    if (job.status === 'completed') throw new ApiError(409, `job ${id} completed; there is nothing to restart`);
    if (job.status === 'queued' || job.status === 'running') {
      const last = (job.heartbeat_at ?? job.started_at ?? job.created_at).getTime();
      const quietMinutes = (Date.now() - last) / 60_000;
      if (quietMinutes < stuckMinutes) {
        throw new ApiError(409, `job ${id} is ${job.status} (last heard from ${Math.round(quietMinutes * 60)} s ago); only a failed, cancelled or stuck job (no sign of life for ${stuckMinutes} min) is restarted`);
      }
    }
    const restarted = await dispatchJob(deps, {
      kind: job.kind,
      type: job.type,
      targets: job.targets,
      description: job.description,
      retentionDays: job.retention_days,
      request: requestOf(job),
      restartOf: job.id,
    });
    // The stuck one will not report again as if it mattered: it is cancelled, pointing at its successor.
    await finishJob(deps.catalog, id, { status: 'cancelled', error: `restarted as ${restarted.id}` });
    return c.json({ job_id: restarted.id, restart_of: id, status: 'queued' }, 202);
  });
  // Cancel: the job ends now, as cancelled (a late report cannot complete it), then its n8n execution is stopped;
  // the running node sees n8n's cancel signal and stops without committing a snapshot.
  app.post('/:id/cancel', describe({ operationId: 'cancelJob', summary: 'End a queued or running job as cancelled and stop its n8n execution', answers: 'json', params: { id: 'job id' } }), requireRole('operator'), async (c) => {
    const id = jobIdParam(c.req.param('id'));
    const job = await getJob(deps.catalog, id);
    if (!job) throw new ApiError(404, `no job ${id}`);
    requireJobRole(c, roleForJob(job.kind, job.params));
    if (!(await finishJob(deps.catalog, id, { status: 'cancelled', error: `cancelled by ${c.get('actor').name}` }))) {
      throw new ApiError(409, `job ${id} already ended (${job.status}); there is nothing to cancel`);
    }
    let execution: 'stopped' | 'none' | 'unreachable' = 'none';
    if (job.n8n_execution_id && deps.n8nApi) {
      execution = await deps.n8nApi.stopExecution(job.n8n_execution_id).then(
        () => 'stopped' as const,
        (err: Error) => {
          deps.log?.warn({ err, job: id }, 'cannot stop the n8n execution of a cancelled job');
          return 'unreachable' as const;
        },
      );
    }
    return c.json({ job_id: id, status: 'cancelled', execution });
  });
  return app;
}
