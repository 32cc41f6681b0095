/** Starts a shipped workflow through its webhook, with the shared secret; answers with n8n's execution id. */
export interface WorkflowEndpoint {
  /** n8n's base URL, e.g. http://127.0.0.1:20012 */
  url: string;
  webhookSecret: string;
}

export class TriggerError extends Error {}

export async function triggerWorkflow(n8n: WorkflowEndpoint, path: string, body: Record<string, unknown>, timeoutMs = 10_000): Promise<{ executionId: string }> {
  let res: Response;
  try {
    res = await fetch(`${n8n.url}/webhook/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Backup-Secret': n8n.webhookSecret },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).name;
    throw new TriggerError(`n8n at ${n8n.url} cannot be reached (${reason})`);
  }
  if (res.status !== 202) {
    throw new TriggerError(`n8n did not accept the ${path} workflow (HTTP ${res.status}: ${(await res.text()).slice(0, 200)})`);
  }
  // the workflow links the job to its execution when it claims it: the id here is informative only
  const answer = (await res.json().catch(() => ({}))) as { execution_id?: unknown };
  return { executionId: String(answer.execution_id ?? '') };
}
