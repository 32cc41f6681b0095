import { zValidator } from '@hono/zod-validator';
import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod/v4';
import type { Role } from '../catalog/tokens';
import { validationHook } from './routes/validation';

/**
 * What the OpenAPI document says of a route, carried by the route's own
 * middleware: `describe()` (operationId, summary, answers), `requireRole()`
 * (the role), `jsonBody()` and `queryOf()` (the zod schemas the route
 * validates with). openapi.ts reads them back from `app.routes`, so the
 * document lists exactly the routes there are, with the roles they check.
 */
export const DOC = Symbol.for('data-backup-manager.openapi');

export interface OperationDoc {
  /** the method name client generators give it: a verb and a noun, camelCase */
  operationId: string;
  summary: string;
  description?: string;
  /** what success answers: a queued job (202), something created (201), JSON (200), Prometheus text, or a file's bytes */
  answers: 'job' | 'created' | 'json' | 'text' | 'file';
  /** no token needed */
  public?: true;
  /** path parameters, by name: what each is */
  params?: Record<string, string>;
}

export type RouteDoc = { operation: OperationDoc } | { role: Role } | { body: z.ZodType } | { query: z.ZodObject };

/** Tags a middleware with what it says of its route. */
export function documented<T extends object>(middleware: T, doc: RouteDoc): T {
  return Object.assign(middleware, { [DOC]: doc });
}

/** The route's OpenAPI operation; does nothing at run time. */
export function describe(operation: OperationDoc): MiddlewareHandler {
  return documented<MiddlewareHandler>(async (_c, next) => next(), { operation });
}

/** Validates the JSON body with `schema` (400 naming the field), and documents it. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return documented(zValidator('json', schema, validationHook), { body: schema });
}

/** Validates the query string with `schema`, and documents it. */
export function queryOf<T extends z.ZodObject>(schema: T) {
  return documented(zValidator('query', schema, validationHook), { query: schema });
}

/** What a route's handlers say, when one of them says anything. */
export function docOf(handler: unknown): RouteDoc | undefined {
  return (handler as { [DOC]?: RouteDoc })[DOC];
}
