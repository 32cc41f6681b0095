import type { IExecuteFunctions } from 'n8n-workflow';

/**
 * What stops a backup node's work: n8n's cancel signal (a job cancelled through
 * the API stops its execution) and the installation's budget, which the stack
 * passes to n8n as DBM_BACKUP_MAX_BYTES and DBM_BACKUP_MAX_SECONDS. A request
 * cannot raise it.
 */
export function backupLimits(ctx: IExecuteFunctions): { signal?: AbortSignal; maxBytes?: number; maxSeconds?: number } {
  const positive = (raw: string | undefined): number | undefined => {
    const n = Number(raw);
    return raw && Number.isFinite(n) && n > 0 ? n : undefined;
  };
  return { signal: ctx.getExecutionCancelSignal(), maxBytes: positive(process.env.DBM_BACKUP_MAX_BYTES), maxSeconds: positive(process.env.DBM_BACKUP_MAX_SECONDS) };
}
