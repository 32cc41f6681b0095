import { z } from 'zod/v4';
import { sourceFieldSpecs, targetEntry, targetNames, type SourceField } from '../engine/targets/registry';
import { allowedPath } from './access';
import type { AppDeps } from './context';
import { ApiError } from './errors';

/**
 * The API's side of the target registry: the targets enum and the source
 * fields of backup and schedule requests are built from it when the routes
 * are (so a target registered before `createApp` is in the schemas and the
 * OpenAPI document), and a request's missing fields are filled from the
 * installation's defaults or refused, by the registry's rules.
 */

export function targetEnum() {
  return z.enum(targetNames());
}

function fieldSchema(f: SourceField) {
  let value = z.string().min(1).max(f.maxLength);
  if (f.pattern) value = value.regex(f.pattern.regex, f.pattern.message);
  return (f.list ? z.array(value).max(1000) : value).optional();
}

/** Every field some target reads that a request may give (not the installation's own settings). */
export function sourceFields(): Record<string, ReturnType<typeof fieldSchema>> {
  return Object.fromEntries(sourceFieldSpecs().filter((f) => !f.settingOnly).map((f) => [f.name, fieldSchema(f)]));
}

/** A list field's values (empty when absent). */
export function listField(body: Record<string, unknown>, name: string): string[] {
  const v = body[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

/** Host paths in a request's source fields, checked against the path policy (400 naming the field). */
export function checkSourcePaths(deps: AppDeps, body: Record<string, unknown>): void {
  for (const f of sourceFieldSpecs()) {
    if (f.hostPath && !f.settingOnly) listField(body, f.name).forEach((p, i) => allowedPath(deps, 'backup source', p, f.list ? `${f.name}.${i}` : f.name));
  }
}

/**
 * What the request's targets need and it left out, from the installation's defaults
 * (`AppDeps.defaults`); a field neither gives is a 400 naming it.
 */
export function sourceDefaults(deps: AppDeps, targets: readonly string[], body: Record<string, unknown>): Record<string, unknown> {
  const defaults = (deps.defaults ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of targets) {
    for (const f of targetEntry(name)?.fields ?? []) {
      if (!f.required || out[f.name] !== undefined) continue;
      const given = body[f.name];
      if (!f.settingOnly && given !== undefined && (!Array.isArray(given) || given.length > 0)) continue;
      const fallback = defaults[f.required.fromDefault] ?? f.required.fallback;
      const empty = fallback === undefined || fallback === '' || (Array.isArray(fallback) && fallback.length === 0);
      if (empty) {
        const field = f.settingOnly ? 'targets' : f.name;
        const setting = f.required.setting ? `${f.settingOnly ? '' : 'none given and '}${f.required.setting} is not set` : 'none given';
        throw new ApiError(400, `${field}: the ${name} target needs ${f.name.replace(/_/g, ' ')} (${setting})`, field);
      }
      out[f.name] = fallback;
    }
  }
  return out;
}
