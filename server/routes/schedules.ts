import { Cron } from 'croner';
import { Hono } from 'hono';
import { z } from 'zod/v4';
import { requireRole } from '../auth';
import { deleteSchedule, getSchedule, insertSchedule, lastScheduledJob, listSchedules, setScheduleEnabled, type Schedule } from '../../catalog/schedules';
import type { AppDeps, AppEnv } from '../context';
import { describe, jsonBody, queryOf } from '../describe';
import { ApiError } from '../errors';
import { targetNames } from '../../engine/targets/registry';
import { checkSourcePaths, sourceDefaults, sourceFields, targetEnum } from '../targetFields';
import { BACKUP_TYPES } from './backups';
import { SCHEDULE_NAME, scheduleNameParam } from './params';

/** A cron expression n8n's Schedule Trigger runs: five fields, or six with seconds first. */
const cron = z.string().max(200).superRefine((value, ctx) => {
  const fields = value.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a cron expression: it needs five fields (minute hour day month weekday), or six with seconds first` });
    return;
  }
  try {
    new Cron(value, { paused: true });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}` });
  }
});

const nextRunsQuery = z.object({ cron, count: z.coerce.number().int().min(1).max(20).default(5) }).strict();

export const scheduleBody = () =>
  z
  .object({
    name: z.string().regex(SCHEDULE_NAME, 'must be lowercase letters, digits, - and _ (at most 63), starting with a letter or digit'),
    cron,
    targets: z.array(targetEnum()).min(1).max(targetNames().length),
    type: z.enum(BACKUP_TYPES).default('incremental'),
    retention_days: z.number().int().positive().max(36500).optional(),
    ...sourceFields(),
  })
  .strict();

/**
 * `/api/v1/schedules`: each schedule is a published n8n workflow made from the
 * shipped scheduled-backup template; the catalog remembers which.
 */
export function scheduleRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const n8nApi = () => {
    if (!deps.n8nApi) throw new ApiError(503, 'schedules need n8n\'s API, which this server was started without');
    return deps.n8nApi;
  };
  const existing = async (raw: string): Promise<Schedule> => {
    const name = scheduleNameParam(raw);
    const schedule = await getSchedule(deps.catalog, name);
    if (!schedule) throw new ApiError(404, `no schedule ${name}`);
    return schedule;
  };
  const n8nCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw new ApiError(503, `n8n could not ${what}: ${(err as Error).message.slice(0, 300)}`);
    }
  };

  app.get('/', describe({ operationId: 'listSchedules', summary: 'Schedules with their next run and last outcome', answers: 'json' }), requireRole('viewer'), async (c) => {
    const timezone = deps.settings?.timezone;
    const schedules = await listSchedules(deps.catalog);
    return c.json({
      timezone: timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
      schedules: await Promise.all(
        schedules.map(async (s) => {
          const last = await lastScheduledJob(deps.catalog, s.name);
          return {
            ...s,
            editor_url: `${deps.n8n.url.replace(/\/+$/, '')}/workflow/${encodeURIComponent(s.workflow_id)}`,
            next_run: s.enabled ? new Cron(s.cron, { paused: true, timezone }).nextRun()?.toISOString() ?? null : null,
            last_run: last ? { job_id: last.id, at: last.created_at, status: last.status, error: last.error } : null,
          };
        }),
      ),
    });
  });

  app.get('/next-runs', describe({ operationId: 'previewSchedule', summary: 'The next runs of a cron expression, in the time zone schedules run in (to check one before creating it)', answers: 'json' }), requireRole('viewer'), queryOf(nextRunsQuery), async (c) => {
    const q = c.req.valid('query');
    const timezone = deps.settings?.timezone;
    return c.json({ cron: q.cron, timezone: timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone, next_runs: new Cron(q.cron, { paused: true, timezone }).nextRuns(q.count).map((d) => d.toISOString()) });
  });

  app.post('/', describe({ operationId: 'createSchedule', summary: 'Create a schedule (a published n8n workflow)', answers: 'created' }), requireRole('admin'), jsonBody(scheduleBody()), async (c) => {
    const body = c.req.valid('json');
    checkSourcePaths(deps, body);
    const api = n8nApi();
    if (await getSchedule(deps.catalog, body.name)) throw new ApiError(409, `schedule ${body.name} exists`, 'name');
    const { name, cron, targets, type, retention_days: retentionDays, ...given } = body;
    const sources = { ...given, ...sourceDefaults(deps, targets, body) };
    const workflowId = await n8nCall('create the schedule workflow', () => api.createSchedule({ name, cron, type, targets, sources, retentionDays }));
    try {
      const schedule = await insertSchedule(deps.catalog, {
        name: body.name,
        workflow_id: workflowId,
        cron: body.cron,
        type: body.type,
        targets: body.targets,
        retention_days: body.retention_days ?? null,
        params: sources,
      });
      return c.json(schedule, 201);
    } catch (err) {
      // never a published workflow the catalog does not know about
      await api.deleteWorkflow(workflowId).catch(() => undefined);
      throw err;
    }
  });

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post(`/:name/${action}`, describe({ operationId: `${action}Schedule`, summary: `${action === 'enable' ? 'Enable' : 'Disable'} a schedule`, answers: 'json', params: { name: 'schedule name' } }), requireRole('admin'), async (c) => {
      const schedule = await existing(c.req.param('name'));
      const api = n8nApi();
      await n8nCall(`${action} workflow ${schedule.workflow_id}`, () => (enabled ? api.activate(schedule.workflow_id) : api.deactivate(schedule.workflow_id)));
      await setScheduleEnabled(deps.catalog, schedule.name, enabled);
      return c.json({ ...schedule, enabled });
    });
  }

  app.delete('/:name', describe({ operationId: 'deleteSchedule', summary: 'Delete a schedule and its workflow', answers: 'json', params: { name: 'schedule name' } }), requireRole('admin'), async (c) => {
    const schedule = await existing(c.req.param('name'));
    const api = n8nApi();
    await n8nCall(`delete workflow ${schedule.workflow_id}`, async () => {
      try {
        await api.deleteWorkflow(schedule.workflow_id);
      } catch (err) {
        if (!/: 404 /.test((err as Error).message)) throw err; // already gone from n8n: forget it here too
      }
    });
    await deleteSchedule(deps.catalog, schedule.name);
    return c.json({ deleted: schedule.name });
  });
  return app;
}
