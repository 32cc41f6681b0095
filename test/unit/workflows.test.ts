import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withBackupChain, type Workflow } from '../../stack/backupChain';
import { acceptedOnReceipt, PUBLISHED_WORKFLOWS } from '../../stack/provision';
import { workflowFromTemplate } from '../../stack/workflows';

const dir = path.join(__dirname, '..', '..', 'workflows');
const read = (file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Workflow;
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const STICKY = 'n8n-nodes-base.stickyNote';
/** n8n draws a node as a 100 × 100 box; closer than this, two nodes overlap or touch */
const NODE = 120;

describe('the shipped workflows', () => {
  it('are all here', () => {
    expect(files.sort()).toEqual(['backup-on-demand.json', 'backup-scheduled.json', 'error-alert.json', 'monitor.json', 'restore-on-demand.json', 'retention.json', 'verify-on-demand.json']);
  });

  for (const file of files) {
    describe(file, () => {
      const wf = read(file);
      const nodes = wf.nodes.filter((n) => n.type !== STICKY);
      const at = new Map(wf.nodes.map((n) => [n.name, n.position]));

      it('gives every node its own name and id (n8n refuses a workflow that does not)', () => {
        for (const key of ['name', 'id'] as const) {
          const seen = wf.nodes.map((n) => String(n[key]));
          expect(seen.filter((v, i) => seen.indexOf(v) !== i)).toEqual([]);
        }
      });

      it('connects only nodes it has, and every node', () => {
        const connected = new Set<string>();
        for (const [from, c] of Object.entries(wf.connections)) {
          expect(at.has(from), `${from} is not a node`).toBe(true);
          connected.add(from);
          for (const out of c.main) for (const to of out) {
            expect(at.has(to.node), `${from} → ${to.node}: no such node`).toBe(true);
            connected.add(to.node);
          }
        }
        expect(nodes.filter((n) => !connected.has(n.name)).map((n) => n.name)).toEqual([]);
      });

      it('reads left to right: every connection goes to a node further right', () => {
        const backwards: string[] = [];
        for (const [from, c] of Object.entries(wf.connections)) {
          for (const out of c.main) for (const to of out) if ((at.get(to.node) as number[])[0] <= (at.get(from) as number[])[0]) backwards.push(`${from} → ${to.node}`);
        }
        expect(backwards).toEqual([]);
      });

      it('has no two nodes on top of each other', () => {
        const overlapping: string[] = [];
        for (let i = 0; i < nodes.length; i++) {
          for (let j = i + 1; j < nodes.length; j++) {
            const [a, b] = [nodes[i].position, nodes[j].position];
            if (Math.abs(a[0] - b[0]) < NODE && Math.abs(a[1] - b[1]) < NODE) overlapping.push(`${nodes[i].name} / ${nodes[j].name}`);
          }
        }
        expect(overlapping).toEqual([]);
      });

      it('says in sticky notes what its parts do and every credential they need', () => {
        const notes = wf.nodes.filter((n) => n.type === STICKY).map((n) => String((n.parameters as { content: string }).content));
        expect(notes.length).toBeGreaterThan(0);
        const credentials = new Set(nodes.flatMap((n) => Object.values((n.credentials ?? {}) as Record<string, { name: string }>).map((c) => c.name)));
        for (const name of credentials) expect(notes.join('\n'), `no note names the credential "${name}"`).toContain(name);
      });

      it('fills in as a template with the values provisioning gives', () => {
        const values: Record<string, unknown> = {};
        for (const key of new Set(JSON.stringify(wf).match(/__[A-Z][A-Za-z_]*__/g) ?? [])) values[key.slice(2, -2)] = key.includes('TARGETS') || key.includes('DATABASES') || key.includes('PATHS') || key.includes('BUCKETS') ? [] : 'x';
        expect(() => workflowFromTemplate(file, values)).not.toThrow();
      });
    });
  }

  it('share one backup chain: the scheduled workflow is its head and the on-demand chain (npm run workflows)', () => {
    const onDemand = read('backup-on-demand.json');
    const scheduled = read('backup-scheduled.json');
    expect(withBackupChain(onDemand, scheduled)).toEqual(scheduled);
    // and a change to the on-demand chain would show as drift
    const edited = structuredClone(onDemand);
    (edited.nodes.find((n) => n.name === 'Verify files') as { parameters: Record<string, unknown> }).parameters.readData = true;
    expect(withBackupChain(edited, scheduled)).not.toEqual(scheduled);
  });

  it('are counted and listed in the README as they are', () => {
    const root = path.join(__dirname, '..', '..');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const nodes = readdirSync(path.join(root, 'nodes')).filter((d) => readdirSync(path.join(root, 'nodes', d)).some((f) => f.endsWith('.node.ts')));
    const credentials = readdirSync(path.join(root, 'credentials')).filter((f) => f.endsWith('.credentials.ts'));
    expect(readme).toContain(`done: ${nodes.length} nodes, ${credentials.length} credentials, ${files.length} workflows`);
    for (const file of files) expect(readme, file).toMatch(new RegExp(`^\\| \`${file.replace('.', '\\.')}\` \\|`, 'm'));
    expect(readme).toContain(`"provisioned n8n: ${PUBLISHED_WORKFLOWS.length} workflows"`);
    expect(files.filter((f) => !(PUBLISHED_WORKFLOWS as readonly string[]).includes(f))).toEqual(['backup-scheduled.json']);
  });
});

describe('the on-demand workflows in queue mode', () => {
  for (const file of ['backup-on-demand.json', 'restore-on-demand.json', 'verify-on-demand.json', 'retention.json']) {
    it(`${file}: answers 202 with the execution id once queued; the claim leads where "Accepted" led`, () => {
      const wf = read(file);
      const after = wf.connections.Accepted.main[0].map((t) => t.node);
      const shaped = acceptedOnReceipt(structuredClone(wf));
      const trigger = shaped.nodes.find((n) => n.type === 'n8n-nodes-base.webhook')!;
      expect(trigger.parameters).toMatchObject({ responseMode: 'onReceived', options: { responseCode: { values: { responseCode: 202 } } } });
      expect(String((trigger.parameters!.options as Record<string, unknown>).responseData)).toContain('$execution.id');
      expect(shaped.nodes.some((n) => n.type === 'n8n-nodes-base.respondToWebhook')).toBe(false);
      expect(JSON.stringify(shaped.connections)).not.toContain('"Accepted"');
      const feeder = Object.keys(wf.connections).find((k) => wf.connections[k].main.some((out) => out.some((t) => t.node === 'Accepted')))!;
      expect(shaped.connections[feeder].main.flat().map((t) => t.node)).toEqual(expect.arrayContaining(after));
      expect(shaped.nodes).toHaveLength(wf.nodes.length - 1);
    });
  }
});
