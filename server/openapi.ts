import { z } from 'zod/v4';
import type { Role } from '../catalog/tokens';
import { docOf, type OperationDoc } from './describe';

/**
 * The API's OpenAPI 3.1 document, read from the app's own routes: each
 * route's `describe()` (operationId, summary), `requireRole()` (its role) and
 * `jsonBody()` / `queryOf()` (the zod schemas it validates with). A route
 * without `describe()` is an error here, so none goes undocumented.
 */
export function openApiDocument(app: { routes: readonly { method: string; path: string; handler: unknown }[] }, version: string): Record<string, unknown> {
  const schema = (s: z.ZodType): Record<string, unknown> => {
    const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    delete json.$schema;
    return json;
  };
  const error = { description: 'an error, with the field at fault when there is one', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const json = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
  const success: Record<OperationDoc['answers'], Record<string, unknown>> = {
    job: { 202: { description: 'accepted: the job is queued', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } } },
    created: { 201: json('created') },
    json: { 200: json('the answer') },
    text: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    file: { 200: { description: "the file's bytes", content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } },
  };

  const operations = new Map<string, { path: string; method: string; docs: ReturnType<typeof docOf>[] }>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue; // app.use(): authentication, audit, limits
    if (route.path === '/' || /^\/(console|ui)\//.test(route.path)) continue; // the web console's files and login: not the API
    const key = `${route.method} ${route.path}`;
    const entry = operations.get(key) ?? { path: route.path, method: route.method.toLowerCase(), docs: [] };
    entry.docs.push(docOf(route.handler));
    operations.set(key, entry);
  }

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, { path, method, docs }] of operations) {
    let operation: OperationDoc | undefined;
    let role: Role | undefined;
    let body: z.ZodType | undefined;
    let query: z.ZodObject | undefined;
    for (const d of docs) {
      if (!d) continue;
      if ('operation' in d) operation = d.operation;
      if ('role' in d) role = d.role;
      if ('body' in d) body = d.body;
      if ('query' in d) query = d.query;
    }
    if (!operation) throw new Error(`${key} has no describe(): every route is documented`);
    const openApiPath = path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters = [
      ...Object.entries(operation.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
      ...Object.entries((query ? schema(query).properties : {}) as Record<string, unknown>).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch })),
    ];
    const errors: Record<number, unknown> = { 400: error, 404: error, 409: error, 503: error };
    if (!operation.public) Object.assign(errors, { 401: error, 403: error });
    paths[openApiPath] = {
      ...paths[openApiPath],
      [method]: {
        operationId: operation.operationId,
        summary: operation.summary,
        description: operation.public ? 'No token needed.' : `Role: ${role ?? 'any valid token'}.`,
        ...(role ? { 'x-role': role } : {}),
        ...(operation.public ? { security: [] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(body) } } } } : {}),
        responses: { ...success[operation.answers], ...errors },
      },
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'data-backup-manager API',
      version,
      description: 'Backups, restores, verification, schedules and retention; every call but /health and this document needs a bearer token.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
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
    paths,
  };
}
