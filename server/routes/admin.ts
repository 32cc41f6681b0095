import { Hono } from 'hono';
import { z } from 'zod/v4';
import { listSnapshots } from '../../engine';
import { requireRole, type TokenCache } from '../auth';
import { listAudit, verifyAudit } from '../../catalog/audit';
import { rebuildSnapshotCache } from '../../catalog/snapshotCache';
import { createToken, listTokens, revokeToken, ROLES } from '../../catalog/tokens';
import type { AppDeps, AppEnv } from '../context';
import { describe, jsonBody, queryOf } from '../describe';
import { ApiError } from '../errors';

export const tokenBody = z.object({ name: z.string().min(1).max(100), role: z.enum(ROLES) }).strict();
const page = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) }).strict();

/** Admin calls: API tokens, the audit log, and rebuilding the catalog's snapshot cache from the repository. */
export function adminRoutes(deps: AppDeps, tokens: TokenCache): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = requireRole('admin');

  app.get('/tokens', describe({ operationId: 'listTokens', summary: 'API tokens (never the tokens themselves)', answers: 'json' }), admin, async (c) => c.json({ tokens: await listTokens(deps.catalog) }));

  app.post('/tokens', describe({ operationId: 'createToken', summary: 'Create a token; the answer is the only time it is shown', answers: 'created' }), admin, jsonBody(tokenBody), async (c) => {
    const { info, token } = await createToken(deps.catalog, c.req.valid('json'));
    return c.json({ ...info, token, note: 'the token is shown once; keep it' }, 201);
  });

  app.delete('/tokens/:id', describe({ operationId: 'revokeToken', summary: 'Revoke a token', answers: 'json', params: { id: 'token id' } }), admin, async (c) => {
    const id = c.req.param('id');
    if (!/^tok_[0-9a-f]{12}$/.test(id)) throw new ApiError(400, `token id ${JSON.stringify(id.slice(0, 100))} is malformed`, 'id');
    if (id === c.get('actor').id) throw new ApiError(409, 'a token cannot revoke itself (that would lock you out); use another admin token');
    if (!(await revokeToken(deps.catalog, id))) throw new ApiError(404, `no live token ${id}`);
    tokens.clear(); // revoked here: refused from the next call on
    return c.json({ revoked: id });
  });

  app.get('/audit', describe({ operationId: 'listAudit', summary: 'The audit log, newest first', answers: 'json' }), admin, queryOf(page), async (c) => {
    const { limit, offset } = c.req.valid('query');
    return c.json({ entries: await listAudit(deps.catalog, limit, offset) });
  });

  app.get('/audit/verify', describe({ operationId: 'verifyAudit', summary: "Check the audit log's hash chain (409 naming the first edited or deleted row)", answers: 'json' }), admin, async (c) => {
    const result = await verifyAudit(deps.catalog, deps.auditKey);
    return c.json(result, result.ok ? 200 : 409);
  });

  app.post('/catalog/rebuild', describe({ operationId: 'rebuildCatalog', summary: "Rebuild the catalog's snapshot cache from the repository", answers: 'json' }), admin, async (c) => {
    if (!deps.repository) throw new ApiError(503, 'the server was started without the repository');
    const refs = await listSnapshots(await deps.repository.open());
    return c.json(await rebuildSnapshotCache(deps.catalog, refs));
  });
  return app;
}
