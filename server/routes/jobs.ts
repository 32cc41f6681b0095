import { Hono } from 'hono';
import type { Pool } from 'pg';
import { getJob } from '../catalog/jobs';
import { ApiError } from '../errors';

/** `/api/v1/jobs`: a job with its progress and steps. */
export function jobRoutes(deps: { catalog: Pool }): Hono {
  const app = new Hono();
  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(id)) throw new ApiError(400, `job id ${JSON.stringify(id.slice(0, 100))} is malformed`, 'id');
    const job = await getJob(deps.catalog, id);
    if (!job) throw new ApiError(404, `no job ${id}`);
    return c.json(job);
  });
  return app;
}
