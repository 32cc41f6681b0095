import { Hono } from 'hono';
import { z } from 'zod/v4';
import { parseDuration } from '../../engine';
import { requireRole } from '../auth';
import type { AppDeps, AppEnv } from '../context';
import { describe, jsonBody } from '../describe';
import { dispatchJob } from '../dispatch';
import { targetEnum } from '../targetFields';

export const cleanupBody = () =>
  z
  .object({
    older_than: z.string().max(50).superRefine((value, ctx) => {
      try {
        const ms = parseDuration(value);
        if (ms < 3_600_000) ctx.addIssue({ code: 'custom', message: 'must be at least 1h' });
        else if (ms > 100 * 365.25 * 86_400_000) ctx.addIssue({ code: 'custom', message: 'must be at most 100y' });
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 30d, 12h, 1y)` });
      }
    }),
    /** true unless asked otherwise: cleanup says what it would remove */
    dry_run: z.boolean().default(true),
    target: targetEnum().optional(),
  })
  .strict();

/**
 * `/api/v1/cleanup`: retention through the retention workflow. Snapshots older
 * than `older_than` are forgotten and their data pruned; as in restic, age
 * counts back from each group's newest snapshot and the newest is always kept,
 * so a stalled schedule never ages every backup away.
 */
export function cleanupRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/', describe({ operationId: 'startCleanup', summary: 'Apply retention: forget snapshots older than a duration and prune (a dry run unless dry_run is false)', answers: 'job' }), requireRole('admin'), jsonBody(cleanupBody()), async (c) => {
    const body = c.req.valid('json');
    const job = await dispatchJob(deps, {
      kind: 'cleanup',
      targets: body.target ? [body.target] : [],
      description: `cleanup older than ${body.older_than}${body.dry_run ? ' (dry run)' : ''}`,
      request: { keep_within: body.older_than, keep_last: 1, target: body.target ?? '', dry_run: body.dry_run, prune: true },
    });
    return c.json({ job_id: job.id, status: 'queued', dry_run: body.dry_run }, 202);
  });
  return app;
}
