import { checkDatabase, checkPath, pathPolicyFromEnv, type PathUse } from '../../engine';

/**
 * The nodes enforce the installation's path policy themselves (the stack
 * passes it to n8n in DBM_BACKUP_ROOTS, DBM_RESTORE_ROOTS, DBM_PROTECTED_PATHS
 * and DBM_PROTECTED_DATABASES): whoever started the workflow, a node never
 * reads or writes outside the roots. Without those settings (n8n run apart
 * from the stack) n8n's own rules apply and paths pass as given.
 */
export function allowedPath(use: PathUse, p: string): string {
  const policy = pathPolicyFromEnv(process.env);
  return policy ? checkPath(policy, use, p) : p;
}

export function allowedDatabase(name: string | undefined): void {
  const policy = pathPolicyFromEnv(process.env);
  if (policy && name) checkDatabase(policy, name);
}
