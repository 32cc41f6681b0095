import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import type { Pool } from 'pg';
import { z } from 'zod/v4';
import { attachExecution, createJob, finishJob } from '../catalog/jobs';
import { ApiError } from '../errors';
import { triggerWorkflow, TriggerError, type WorkflowEndpoint } from '../n8n/trigger';
import { validationHook } from './validation';

export const TARGETS = ['postgres', 'files', 'scenarios', 'minio'] as const;

const createBody = z
  .object({
    type: z.enum(['full', 'incremental', 'differential']).default('incremental'),
    targets: z.array(z.enum(TARGETS)).min(1).max(TARGETS.length),
    description: z.string().max(500).optional(),
    retention_days: z.number().int().positive().max(36500).optional(),
    databases: z.array(z.string().min(1).max(63)).max(1000).optional(),
    paths: z.array(z.string().min(1).max(4096)).max(1000).optional(),
  })
  .strict();

/**
 * `/api/v1/backup`: the server never runs a backup itself. It records the job,
 * triggers the on-demand workflow, and answers at once with the job id; when
 * n8n cannot take it, the job is recorded failed with that reason — never a
 * lost request.
 */
export function backupRoutes(deps: { catalog: Pool; n8n: WorkflowEndpoint }): Hono {
  const app = new Hono();
  app.post('/create', zValidator('json', createBody, validationHook), async (c) => {
    const body = c.req.valid('json');
    const job = await createJob(deps.catalog, {
      kind: 'backup',
      type: body.type,
      targets: body.targets,
      description: body.description,
      retentionDays: body.retention_days,
      params: { databases: body.databases, paths: body.paths },
    });
    try {
      const { executionId } = await triggerWorkflow(deps.n8n, 'dbm-backup', {
        job_id: job.id,
        type: body.type,
        targets: body.targets,
        databases: body.databases,
        paths: body.paths,
        retention_days: body.retention_days,
      });
      if (executionId) await attachExecution(deps.catalog, job.id, executionId);
    } catch (err) {
      if (!(err instanceof TriggerError)) throw err;
      await finishJob(deps.catalog, job.id, { status: 'failed', error: err.message });
      throw new ApiError(503, `backup job ${job.id} failed to start: ${err.message}`);
    }
    return c.json({ job_id: job.id, status: 'queued' }, 202);
  });
  return app;
}
