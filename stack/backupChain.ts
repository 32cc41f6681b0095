/**
 * The two backup workflows share one chain: what runs after "What to back up"
 * (a row per target, retention, completion). It is kept once, in the on-demand
 * workflow; the scheduled workflow has its own head (schedule, settings, job
 * started) and a copy of that chain, written by `npm run workflows` and
 * checked by a test, so the two cannot drift.
 */

export const CHAIN_START = 'What to back up';

import type { Connections, Workflow } from './workflows';
export type { Workflow } from './workflows';

const STICKY = 'n8n-nodes-base.stickyNote';

/** The nodes after CHAIN_START, and the sticky notes right of it. */
function chainOf(wf: Workflow): Set<string> {
  const start = wf.nodes.find((n) => n.name === CHAIN_START);
  if (!start) throw new Error(`workflow ${wf.name} has no "${CHAIN_START}" node`);
  const chain = new Set<string>();
  const queue = [CHAIN_START];
  while (queue.length) {
    for (const out of wf.connections[queue.shift() as string]?.main ?? []) {
      for (const c of out) {
        if (!chain.has(c.node)) {
          chain.add(c.node);
          queue.push(c.node);
        }
      }
    }
  }
  for (const n of wf.nodes) if (n.type === STICKY && n.position[0] > start.position[0]) chain.add(n.name);
  return chain;
}

/** The scheduled workflow: its own head, and the on-demand workflow's chain. */
export function withBackupChain(onDemand: Workflow, scheduled: Workflow): Workflow {
  const chain = chainOf(onDemand);
  const old = chainOf(scheduled);
  const head = scheduled.nodes.filter((n) => !old.has(n.name));
  const connections: Connections = {};
  for (const [from, c] of Object.entries(scheduled.connections)) if (!old.has(from) && from !== CHAIN_START) connections[from] = c;
  for (const [from, c] of Object.entries(onDemand.connections)) if (chain.has(from) || from === CHAIN_START) connections[from] = c;
  return { ...scheduled, nodes: [...head, ...onDemand.nodes.filter((n) => chain.has(n.name))], connections };
}
