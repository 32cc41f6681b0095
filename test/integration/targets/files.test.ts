import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSnapshots, type SnapshotRef } from '../../../engine';
import { backupFiles, backupScenarios, backupTargets, restoreFiles, restoreScenario } from '../../../engine/targets';
import { verifyRestoredTree } from '../../../engine/verify';
import { backends, newRepository, PASSPHRASE, tempDir } from '../../support/backends';
import { runCli } from '../../support/cli';
import { describeTree, makeSampleTree, textBytes } from '../../support/trees';

describe.each(backends)('files and scenarios targets on $name storage', (backend) => {
  it('restores files to where they came from, and verifies them against the snapshot', async () => {
    const { repo } = await newRepository(backend);
    const base = tempDir();
    const a = path.join(base, 'etc-app');
    const b = path.join(base, 'other', 'data');
    await makeSampleTree(a);
    await fs.mkdir(b, { recursive: true });
    await fs.writeFile(path.join(b, 'state.json'), '{"ok":true}');
    const ref = await backupFiles(repo, [a, b]);
    const expectedA = await describeTree(a);
    const expectedB = await describeTree(b);
    await fs.rm(a, { recursive: true });
    await fs.rm(b, { recursive: true });

    const result = await restoreFiles(repo, ref, { verify: true });
    expect(result.locations.sort()).toEqual([base, path.join(base, 'other')].sort());
    expect(result.verification?.ok).toBe(true);
    expect(await describeTree(a)).toEqual(expectedA);
    expect(await describeTree(b)).toEqual(expectedB);

    // a restored file changed afterwards is caught, by path
    await fs.appendFile(path.join(a, 'docs', 'nested', 'log.txt'), 'tampered');
    await fs.rm(path.join(a, 'script.sh'));
    const check = await verifyRestoredTree(repo, ref, base, { include: ['etc-app'] });
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([
      { path: 'etc-app/docs/nested/log.txt', problem: expect.stringMatching(/^size \d+, the snapshot says 300000$/) },
      { path: 'etc-app/script.sh', problem: 'missing' },
    ]);
  });

  it('backs up each scenario as its own snapshot and restores one alone', async () => {
    const { repo } = await newRepository(backend);
    const root = tempDir();
    for (const name of ['blog', 'crm', 'shop']) {
      await fs.mkdir(path.join(root, name, 'config'), { recursive: true });
      await fs.writeFile(path.join(root, name, 'config', 'app.yml'), `name: ${name}\n`);
      await fs.writeFile(path.join(root, name, 'data.log'), textBytes(name, 200_000));
    }
    await fs.writeFile(path.join(root, 'not-a-scenario.txt'), 'ignored');
    const first = await backupScenarios(repo, root);
    expect(first.map((o) => [o.scenario, o.snapshot?.snapshot.tags.scenario, o.error])).toEqual([
      ['blog', 'blog', undefined],
      ['crm', 'crm', undefined],
      ['shop', 'shop', undefined],
    ]);
    expect((await listSnapshots(repo, { target: 'scenarios', tags: { scenario: 'crm' } })).length).toBe(1);

    // incremental: an unchanged scenario reads nothing
    await fs.writeFile(path.join(root, 'shop', 'config', 'app.yml'), 'name: shop\nversion: 2\n');
    const second = await backupScenarios(repo, root);
    const byName = Object.fromEntries(second.map((o) => [o.scenario, o.snapshot!.snapshot]));
    expect(byName.blog.stats.bytesRead).toBe(0);
    expect(byName.blog.parent).toBe(first[0].snapshot!.id);
    expect(byName.shop.stats.bytesRead).toBe(Buffer.byteLength('name: shop\nversion: 2\n'));

    const out = tempDir();
    const restored = await restoreScenario(repo, 'crm', { to: out, verify: true });
    expect(restored.verification?.ok).toBe(true);
    expect(await fs.readdir(out)).toEqual(['crm']);
    expect(await fs.readFile(path.join(out, 'crm', 'config', 'app.yml'), 'utf8')).toBe('name: crm\n');

    const missing = await backupScenarios(repo, root, { only: ['crm', 'nope'] });
    expect(missing[1]).toEqual({ scenario: 'nope', error: `scenario "nope" does not exist under ${root}` });
    expect(missing[0].snapshot).toBeTruthy();
  });

  it('reports a failed target of a run and completes the others', async () => {
    const { repo } = await newRepository(backend);
    const good = path.join(tempDir(), 'good');
    await makeSampleTree(good);
    const outcomes = await backupTargets([
      { target: 'files', run: async () => [await backupFiles(repo, ['/no/such/dir'])] },
      { target: 'scenarios', run: async () => (await backupScenarios(repo, '/no/such/root')).flatMap((o) => (o.snapshot ? [o.snapshot] : [])) },
      { target: 'files', run: async (): Promise<SnapshotRef[]> => [await backupFiles(repo, [good])] },
    ]);
    expect(outcomes.map((o) => [o.target, o.ok, o.error])).toEqual([
      ['files', false, 'path /no/such/dir does not exist'],
      ['scenarios', false, 'scenarios root /no/such/root does not exist'],
      ['files', true, undefined],
    ]);
    expect((await listSnapshots(repo)).length).toBe(1);
  });
});

describe('files and scenarios through the repo CLI', () => {
  it('backs up scenarios, restores one by tag, restores files to their original place with --verify', async () => {
    const loc = backends[0].make();
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    await runCli(['repo', 'init'], env);
    const root = tempDir();
    for (const name of ['alpha', 'beta']) {
      await fs.mkdir(path.join(root, name));
      await fs.writeFile(path.join(root, name, 'f.txt'), name);
    }
    const backup = await runCli(['repo', 'backup', '--scenarios', root, '--json'], env);
    expect(backup.code).toBe(0);
    expect(JSON.parse(backup.stdout).snapshots.map((s: { tags: { scenario: string } }) => s.tags.scenario)).toEqual(['alpha', 'beta']);
    const out = tempDir();
    const restore = await runCli(['repo', 'restore', 'latest', '--from', 'scenarios', '--tag', 'scenario=beta', '--target', out, '--verify'], env);
    expect(restore.stdout).toMatch(/verified 1 files against the snapshot/);
    expect(await fs.readdir(out)).toEqual(['beta']);

    await fs.rm(path.join(root, 'alpha'), { recursive: true });
    const original = await runCli(['repo', 'restore', 'latest', '--from', 'scenarios', '--tag', 'scenario=alpha', '--original', '--verify'], env);
    expect(original.code).toBe(0);
    expect(await fs.readFile(path.join(root, 'alpha', 'f.txt'), 'utf8')).toBe('alpha');
  });
});
