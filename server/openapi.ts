import { z } from 'zod/v4';
import { tokenBody } from './routes/admin';
import { createBackupBody, listQuery, verifyBody } from './routes/backups';
import { cleanupBody } from './routes/cleanup';
import { restoreBody } from './routes/restores';
import { scheduleBody } from './routes/schedules';

/**
 * The API's OpenAPI 3.1 document. Request schemas come from the same zod
 * schemas the routes validate with, so the document cannot drift from them.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  const schema = (s: z.ZodType): Record<string, unknown> => {
    const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    delete json.$schema;
    return json;
  };
  const body = (s: z.ZodType) => ({ required: true, content: { 'application/json': { schema: schema(s) } } });
  const queryParams = (s: z.ZodObject) =>
    Object.entries((schema(s).properties ?? {}) as Record<string, unknown>).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
  const path = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
  const error = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const errors = { 400: error, 401: error, 403: error, 404: error, 409: error, 503: error };
  const accepted = { 202: { description: 'accepted: the job is queued', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } }, ...errors };
  const ok = (description: string) => ({ 200: { description, content: { 'application/json': { schema: { type: 'object' } } } }, ...errors });
  const op = (summary: string, role: string, extra: Record<string, unknown>) => ({ summary, description: `Role: ${role}.`, ...extra });
  return {
    openapi: '3.1.0',
    info: { title: 'data-backup-manager API', version, description: 'Backups, restores, verification, schedules and retention; every call but /health and this document needs a bearer token.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token (roles viewer, operator, admin)' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['status', 'message'], properties: { status: { type: 'integer' }, message: { type: 'string' }, field: { type: 'string' } } } },
        },
        Accepted: { type: 'object', required: ['job_id', 'status'], properties: { job_id: { type: 'string' }, status: { const: 'queued' } } },
      },
    },
    paths: {
      '/health': { get: { summary: 'Deep health: catalog, repository and n8n, each with status and latency; 503 when one is down', security: [], responses: { 200: { description: 'healthy' }, 503: { description: 'a dependency is down' } } } },
      '/metrics': { get: op('Prometheus metrics', 'viewer', { responses: { 200: { description: 'text exposition format' } } }) },
      '/api/v1/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } },
      '/api/v1/backup/create': { post: op('Start a backup', 'operator', { requestBody: body(createBackupBody), responses: accepted }) },
      '/api/v1/backup/status': { get: op('Job counts, running and stuck jobs, last success per target', 'viewer', { parameters: [{ name: 'verbose', in: 'query', schema: { type: 'boolean' } }], responses: ok('status') }) },
      '/api/v1/backup/list': { get: op('Jobs, newest first, filtered and paged', 'viewer', { parameters: queryParams(listQuery), responses: ok('a page of jobs') }) },
      '/api/v1/backup/verify/{id}': { post: op('Verify a backup job\'s snapshots, one snapshot, or "latest" (of body.target)', 'operator', { parameters: [path('id', 'job id, snapshot id or latest')], requestBody: body(verifyBody), responses: accepted }) },
      '/api/v1/jobs/{id}': { get: op('A job with progress, steps and log', 'viewer', { parameters: [path('id', 'job id')], responses: ok('the job') }) },
      '/api/v1/jobs/{id}/restart': { post: op('Run a failed, cancelled or stuck job again (the old one is cancelled); needs the role its creation needed', 'operator', { parameters: [path('id', 'job id')], responses: accepted }) },
      '/api/v1/jobs/{id}/cancel': { post: op('End a queued or running job as cancelled and stop its n8n execution; needs the role its creation needed', 'operator', { parameters: [path('id', 'job id')], responses: ok('job_id, status, execution') }) },
      '/api/v1/restore/create': { post: op('Restore a backup job\'s snapshots, one snapshot, or the latest of targets', 'operator', { requestBody: body(restoreBody), responses: accepted }) },
      '/api/v1/restore/{id}': { get: op('A restore job', 'viewer', { parameters: [path('id', 'job id')], responses: ok('the restore job') }) },
      '/api/v1/schedules': {
        get: op('Schedules with next run and last outcome', 'viewer', { responses: ok('schedules') }),
        post: op('Create a schedule (a published n8n workflow)', 'admin', { requestBody: body(scheduleBody), responses: { 201: { description: 'created' }, ...errors } }),
      },
      '/api/v1/schedules/{name}/enable': { post: op('Enable a schedule', 'admin', { parameters: [path('name', 'schedule name')], responses: ok('the schedule') }) },
      '/api/v1/schedules/{name}/disable': { post: op('Disable a schedule', 'admin', { parameters: [path('name', 'schedule name')], responses: ok('the schedule') }) },
      '/api/v1/schedules/{name}': { delete: op('Delete a schedule and its workflow', 'admin', { parameters: [path('name', 'schedule name')], responses: ok('deleted') }) },
      '/api/v1/cleanup': { post: op('Apply retention: forget snapshots older than a duration (dry run unless dry_run is false)', 'admin', { requestBody: body(cleanupBody), responses: accepted }) },
      '/api/v1/storage/status': { get: op('Repository size, objects, dedup and compression ratios, growth, capacity warnings', 'viewer', { responses: ok('storage status') }) },
      '/api/v1/tokens': {
        get: op('API tokens (never the tokens themselves)', 'admin', { responses: ok('tokens') }),
        post: op('Create a token; the answer is the only time it is shown', 'admin', { requestBody: body(tokenBody), responses: { 201: { description: 'created' }, ...errors } }),
      },
      '/api/v1/tokens/{id}': { delete: op('Revoke a token', 'admin', { parameters: [path('id', 'token id')], responses: ok('revoked') }) },
      '/api/v1/audit': { get: op('The audit log, newest first', 'admin', { responses: ok('entries') }) },
      '/api/v1/audit/verify': { get: op("Check the audit log's hash chain: 409 naming the first edited or deleted row", 'admin', { responses: ok('ok, checked, unchained, broken') }) },
      '/api/v1/catalog/rebuild': { post: op('Rebuild the snapshot cache from the repository', 'admin', { responses: ok('counts') }) },
    },
  };
}
