import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { targetNames, targets } from '../../engine/targets/registry';
import { RestoreBackup } from '../../nodes/RestoreBackup/RestoreBackup.node';

/** The parts a target needs outside the engine are held to the registry here: a missing one fails, naming it. */
describe('the target registry', () => {
  it('lists every target once, each with a description and where it restores to', () => {
    expect(targetNames()).toEqual(['postgres', 'files', 'scenarios', 'minio', 'postgres-cluster']);
    for (const t of targets()) {
      expect(t.description, t.name).toBeTruthy();
      expect(['directory', 'database', 'bucket', 'cluster']).toContain(t.restoresTo);
    }
  });

  it('has a row in the backup chain for every target (an IF that asks for it, then its node)', () => {
    const wf = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'workflows', 'backup-on-demand.json'), 'utf8')) as { nodes: { name: string; type: string; parameters: unknown }[]; connections: Record<string, { main: { node: string }[][] }> };
    for (const name of targetNames()) {
      const ask = wf.nodes.find((n) => n.type === 'n8n-nodes-base.if' && JSON.stringify(n.parameters).includes(`includes('${name}')`));
      expect(ask, `no "<target> requested?" row for ${name} in workflows/backup-on-demand.json`).toBeDefined();
      const next = wf.connections[ask!.name].main[0][0].node;
      expect(wf.nodes.find((n) => n.name === next)?.type, `${ask!.name} → ${next}`).toMatch(/^n8n-nodes-data-backup-manager\.backup/);
    }
  });

  it('has a destination in the RestoreBackup node for every kind of restore', () => {
    const property = new RestoreBackup().description.properties.find((p) => p.name === 'destination');
    const values = (property?.options as { value: string }[]).map((o) => o.value);
    const nodeDestination = { directory: 'directory', database: 'postgres', bucket: 'minio', cluster: 'cluster' } as const;
    for (const t of targets()) expect(values, t.name).toContain(nodeDestination[t.restoresTo]);
  });
});
