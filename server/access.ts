import type { Context } from 'hono';
import { checkDatabase, checkPath, UnsafePathError, type PathPolicy, type PathUse } from '../engine';
import { roleAtLeast } from './auth';
import type { Role } from '../catalog/tokens';
import type { JobKind } from '../catalog/jobs';
import type { AppDeps, AppEnv } from './context';
import { ApiError } from './errors';

/**
 * What a request may touch, beyond the route's role: the path policy (restore
 * roots, backup roots, protected paths and databases) and the role a job's
 * content needs. The nodes check the same policy again when they run.
 */
export function policyOf(deps: AppDeps): PathPolicy {
  return (
    deps.policy ?? {
      backupRoots: deps.defaults?.paths ?? [],
      restoreRoots: deps.defaults?.restoreDir ? [deps.defaults.restoreDir] : [],
      protectedPaths: [],
    }
  );
}

/** A path of a request, checked against the policy: a 400 naming the field when refused. */
export function allowedPath(deps: AppDeps, use: PathUse, p: string, field: string): string {
  try {
    return checkPath(policyOf(deps), use, p);
  } catch (err) {
    if (err instanceof UnsafePathError) throw new ApiError(400, `${field}: ${err.message}`, field);
    throw err;
  }
}

export function allowedDatabase(deps: AppDeps, name: string | undefined, field: string): void {
  if (!name) return;
  try {
    checkDatabase(policyOf(deps), name);
  } catch (err) {
    if (err instanceof UnsafePathError) throw new ApiError(400, `${field}: ${err.message}`, field);
    throw err;
  }
}

/**
 * The role a job needs for what it does, not only for its route: cleanup is
 * admin's; a restore over the original files or replacing an existing
 * database is admin's; everything else an operator's. A restart or a cancel
 * needs the same role the job's creation needed.
 */
export function roleForJob(kind: JobKind, request: Record<string, unknown>): { role: Role; why: string } {
  if (kind === 'cleanup') return { role: 'admin', why: 'a cleanup (forget and prune)' };
  if (kind === 'restore') {
    const restores = Array.isArray(request.restores) ? (request.restores as Record<string, unknown>[]) : [];
    if (restores.some((r) => r.destination === 'original')) return { role: 'admin', why: 'a restore over the original files' };
    if (restores.some((r) => r.force === true)) return { role: 'admin', why: 'a restore that replaces an existing database' };
    // who owns a database decides who may connect to it and grant it: an operator restores, an admin hands over
    if (restores.some((r) => typeof r.owner === 'string' && r.owner !== '')) return { role: 'admin', why: 'a restore that gives the database another owner' };
  }
  return { role: 'operator', why: `a ${kind}` };
}

/** 403 unless the caller has the role `need` names. */
export function requireJobRole(c: Context<AppEnv>, need: { role: Role; why: string }): void {
  const actor = c.get('actor');
  if (!roleAtLeast(actor.role, need.role)) {
    throw new ApiError(403, `${need.why} needs the ${need.role} role; token "${actor.name}" is ${actor.role}`);
  }
}
