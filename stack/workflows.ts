import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** A workflow as n8n exports and imports it, as far as we read or change it. */
export interface WorkflowNode {
  name: string;
  type: string;
  position: [number, number];
  parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

export type Connections = Record<string, { main: { node: string; type: string; index: number }[][] }>;

export interface Workflow {
  name: string;
  nodes: WorkflowNode[];
  connections: Connections;
  [key: string]: unknown;
}

/** The shipped workflows' folder (from src or from dist). */
function workflowsDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'workflows');
    try {
      readFileSync(path.join(candidate, 'backup-on-demand.json'));
      return candidate;
    } catch {
      // keep looking upwards
    }
  }
  throw new Error(`cannot find the workflows folder above ${__dirname}`);
}

/**
 * A shipped workflow with its placeholders (`__NAME__`) filled: credential ids
 * (`CRED_<type>`), the error workflow, a schedule's cron and targets. Values
 * land inside JSON strings, so they are escaped for that; a placeholder left
 * unfilled is an error, never a broken workflow in n8n.
 */
export function workflowFromTemplate(file: string, values: Record<string, unknown>): Workflow {
  let text = readFileSync(path.join(workflowsDir(), file), 'utf8');
  for (const [key, value] of Object.entries(values)) {
    const raw = typeof value === 'string' ? value : JSON.stringify(value);
    text = text.replaceAll(`__${key}__`, JSON.stringify(raw).slice(1, -1));
  }
  const left = [...new Set(text.match(/__[A-Z][A-Za-z_]*__/g) ?? [])];
  if (left.length > 0) throw new Error(`workflow ${file}: no value for ${left.join(', ')}`);
  return JSON.parse(text) as Workflow;
}
