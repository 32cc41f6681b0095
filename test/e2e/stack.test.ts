import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, promises as fs, readFileSync } from 'node:fs';
import { freePort } from '../support/ports';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { listSnapshots, openStorage, Repository } from '../../engine';
import { tempDir } from '../support/backends';
import { CLI } from '../support/cli';


describe('data-backup-manager stack start', () => {
  const base = tempDir('dbm-stack-');
  chmodSync(base, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const dataDir = path.join(base, 'data');
  let child: ChildProcess | null = null;
  let env: Record<string, string>;

  async function start(): Promise<string> {
    const out: string[] = [];
    child = spawn(process.execPath, [CLI, 'stack', 'start'], { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    const started = Date.now();
    while (!out.join('').includes('\nready\n')) {
      if (child.exitCode !== null) throw new Error(`stack start exited ${child.exitCode}: ${out.join('')}`);
      if (Date.now() - started > 240_000) throw new Error(`stack start not ready: ${out.join('')}`);
      await sleep(300);
    }
    return out.join('');
  }

  async function stop(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGTERM');
    await new Promise((resolve) => c.once('exit', resolve));
  }

  async function backupAndWait(job: string, dir: string): Promise<string[]> {
    const secret = readFileSync(path.join(dataDir, 'secrets', 'webhook-secret'), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${env.DBM_N8N_PORT}/webhook/dbm-backup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Backup-Secret': secret },
      body: JSON.stringify({ job_id: job, type: 'incremental', paths: [dir] }),
    });
    expect(res.status).toBe(202);
    const passphrase = readFileSync(path.join(dataDir, 'secrets', 'repository-passphrase'), 'utf8').trim();
    const storage = openStorage(path.join(dataDir, 'repository'));
    const started = Date.now();
    while (Date.now() - started < 90_000) {
      if (await Repository.exists(storage)) {
        const targets = (await listSnapshots(await Repository.open(storage, { passphrase }), { tags: { job } })).map((r) => r.snapshot.target).sort();
        if (targets.length === 2) return targets;
      }
      await sleep(500);
    }
    return [];
  }

  afterAll(async () => {
    await stop();
  }, 60_000);

  it('runs the product on embedded defaults, backs up through it, and reuses everything after a restart', async () => {
    env = {
      DBM_DATA_DIR: dataDir,
      DBM_CATALOG_PORT: String(await freePort()),
      DBM_N8N_PORT: String(await freePort()),
      DBM_N8N_BROKER_PORT: String(await freePort()),
    };
    const files = path.join(tempDir(), 'config');
    await fs.mkdir(files);
    await fs.writeFile(path.join(files, 'app.yml'), 'name: app\n');

    const first = await start();
    expect(first).toMatch(/provisioned n8n: 6 workflows/);
    expect(await backupAndWait('stack-1', files)).toEqual(['files', 'postgres']);
    expect((await fs.stat(path.join(dataDir, 'secrets', 'repository-passphrase'))).mode & 0o777).toBe(0o600);
    await stop();

    const second = await start();
    expect(second).not.toMatch(/provisioned/); // nothing made twice
    expect(await backupAndWait('stack-2', files)).toEqual(['files', 'postgres']);
    await stop();
  }, 600_000);
});
