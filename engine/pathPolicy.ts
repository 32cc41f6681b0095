import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import { UnsafePathError } from './errors';

/**
 * Which host paths a job may read (backup sources) or write (restore
 * destinations). The product runs with root's reach, so a path a caller names
 * is accepted only inside one of the configured roots, and never on or around
 * a protected path (the data directory's secrets, the repository, the catalog
 * cluster, n8n's folder). Checked where requests arrive (the API) and again
 * where they run (the nodes), which do not trust their caller.
 */
export interface PathPolicy {
  /** where backups may read from */
  backupRoots: string[];
  /** where restores may write to */
  restoreRoots: string[];
  /** never a source or a destination, nor inside or around one */
  protectedPaths: string[];
  /** databases never restored over or into (the catalog's, n8n's) */
  protectedDatabases?: string[];
}

export type PathUse = 'backup source' | 'restore destination';

/** A path with every symlink of its existing part resolved: what the kernel would really touch. */
function realPath(p: string): string {
  let existing = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(existing), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UnsafePathError(`cannot resolve ${JSON.stringify(existing)} (${code ?? (err as Error).message}), so it is not known where it leads`);
      const parent = path.dirname(existing);
      if (parent === existing) return path.join(existing, ...rest.reverse());
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

function within(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Answers the real path `p` names when the policy allows it for `use`, and
 * throws UnsafePathError naming the reason when not. `..` segments are
 * refused, not normalised; symlinks are followed before the roots are
 * compared, so a link inside a root that points out of it is refused too.
 */
export function checkPath(policy: PathPolicy, use: PathUse, p: string): string {
  if (typeof p !== 'string' || p.length === 0) throw new UnsafePathError(`${use}: a path is required`);
  if (p.includes('\0')) throw new UnsafePathError(`${use} ${JSON.stringify(p.slice(0, 200))}: contains a NUL byte`);
  if (!path.isAbsolute(p)) throw new UnsafePathError(`${use} ${JSON.stringify(p)}: must be an absolute path`);
  if (p.split(/[/\\]/).includes('..')) throw new UnsafePathError(`${use} ${JSON.stringify(p)}: ".." is not allowed in a path`);
  const real = realPath(path.resolve(p));
  for (const guarded of policy.protectedPaths.map((g) => realPath(path.resolve(g)))) {
    if (within(real, guarded) || within(guarded, real)) {
      throw new UnsafePathError(`${use} ${JSON.stringify(p)}: ${real === guarded ? 'is' : within(real, guarded) ? 'is inside' : 'contains'} ${guarded}, which holds the product's own data and is never a ${use}`);
    }
  }
  const roots = use === 'backup source' ? policy.backupRoots : policy.restoreRoots;
  if (!roots.some((root) => within(real, realPath(path.resolve(root))))) {
    const setting = use === 'backup source' ? 'DBM_BACKUP_ROOTS' : 'DBM_RESTORE_ROOTS';
    throw new UnsafePathError(
      `${use} ${JSON.stringify(p)}${real !== p ? ` (really ${real})` : ''} is outside the allowed roots (${roots.join(', ') || 'none configured'}; set ${setting})`,
    );
  }
  return real;
}

/** Refuses a database the policy protects, by name, before anything is written. */
export function checkDatabase(policy: PathPolicy, name: string): void {
  if ((policy.protectedDatabases ?? []).includes(name)) {
    throw new UnsafePathError(`database ${JSON.stringify(name)} is the product's own (its catalog) and is never a restore destination`);
  }
}

/** Paths of a list setting (colon-separated, as PATH), absolute, without empties. */
export function pathList(value: string | undefined): string[] {
  return (value ?? '')
    .split(':')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => path.resolve(s));
}

/**
 * The policy the stack hands its processes in the environment: DBM_BACKUP_ROOTS,
 * DBM_RESTORE_ROOTS, DBM_PROTECTED_PATHS and DBM_PROTECTED_DATABASES. Null when none is set (n8n run
 * without the stack: n8n's own access rules apply).
 */
export function pathPolicyFromEnv(env: Record<string, string | undefined>): PathPolicy | null {
  if (env.DBM_BACKUP_ROOTS === undefined && env.DBM_RESTORE_ROOTS === undefined && env.DBM_PROTECTED_PATHS === undefined) return null;
  return {
    backupRoots: pathList(env.DBM_BACKUP_ROOTS),
    restoreRoots: pathList(env.DBM_RESTORE_ROOTS),
    protectedPaths: pathList(env.DBM_PROTECTED_PATHS),
    protectedDatabases: (env.DBM_PROTECTED_DATABASES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  };
}

/** The policy's settings as environment variables, for a process that must enforce it too. */
export function pathPolicyEnv(policy: PathPolicy): Record<string, string> {
  return {
    DBM_BACKUP_ROOTS: policy.backupRoots.join(':'),
    DBM_RESTORE_ROOTS: policy.restoreRoots.join(':'),
    DBM_PROTECTED_PATHS: policy.protectedPaths.join(':'),
    DBM_PROTECTED_DATABASES: (policy.protectedDatabases ?? []).join(','),
  };
}
