import type { Context } from 'hono';

/** What a validation hook reads of a zod failure. */
interface Failure {
  success: boolean;
  error?: { issues: readonly { path: readonly PropertyKey[]; message: string; code: string; keys?: readonly string[] }[] };
}

/** zod failures as the API's 400: the first problem, naming its field. */
export function validationHook(result: Failure, c: Context): Response | undefined {
  if (result.success || !result.error) return undefined;
  const issue = result.error.issues[0];
  const unknownKeys = issue.code === 'unrecognized_keys' ? (issue.keys ?? []).join(', ') : '';
  const field = issue.path.map(String).join('.') || unknownKeys || 'body';
  const message = unknownKeys ? `unknown field ${unknownKeys}` : `${field}: ${issue.message}`;
  return c.json({ error: { status: 400, message, field } }, 400);
}
