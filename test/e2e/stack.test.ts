import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, promises as fs, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exitCodes';
import { openStorage, Repository } from '../../engine';
import { tempDir } from '../support/backends';
import { CLI, runCli } from '../support/cli';
import { freePort } from '../support/ports';
import { pidListeningOn } from '../support/processes';
import { startStack, stopStack } from '../support/stack';
import { describeTree } from '../support/trees';

/**
 * The product as a newcomer runs it: `stack start` on embedded defaults, then
 * the data-backup-manager CLI against its API, to completed jobs and restores.
 */
describe('data-backup-manager stack start, driven by the CLI', () => {
  const base = tempDir('dbm-stack-');
  chmodSync(base, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const dataDir = path.join(base, 'data');
  let child: ChildProcess | null = null;
  let env: Record<string, string>;

  async function start(): Promise<string> {
    const started = await startStack(env);
    child = started.child;
    return started.output();
  }

  async function stop(): Promise<void> {
    await stopStack(child);
  }

  afterAll(async () => {
    await stop();
  }, 60_000);

  it('runs the product on embedded defaults; the CLI backs up, restores, verifies, schedules and cleans up through it; a restart reuses everything', async () => {
    const apiPort = await freePort();
    env = {
      DBM_DATA_DIR: dataDir,
      DBM_PORT: String(apiPort),
      DBM_CATALOG_PORT: String(await freePort()),
      DBM_N8N_PORT: String(await freePort()),
      DBM_N8N_BROKER_PORT: String(await freePort()),
      DBM_BACKUP_ROOTS: `${path.join(dataDir, 'config')}:${path.join(base, 'sources')}`,
      // the one setting changed from the defaults: it reaches the repository the first backup creates
      DBM_COMPRESSION: 'fast',
    };
    const first = await start();
    expect(first).toMatch(/provisioned n8n: 6 workflows/);
    // TLS by default: a self-signed certificate the CLI is told to trust
    expect(first).toContain(`API:         https://127.0.0.1:${apiPort}`);
    const ca = path.join(dataDir, 'secrets', 'tls-cert.pem');
    expect(first).toContain(`DBM_API_CA=${ca}`);
    const token = /admin token: (dbm_\S+)/.exec(first)![1];
    const cli = { DBM_API_URL: `https://127.0.0.1:${apiPort}`, DBM_API_CA: ca, DBM_API_TOKEN: token, XDG_CONFIG_HOME: base, XDG_DATA_HOME: base };
    const run = (args: string[], timeoutMs = 60_000) => runCli(args, cli, undefined, timeoutMs);
    const untrusted = await runCli(['status'], { ...cli, DBM_API_CA: '' });
    expect(untrusted.code).toBe(EXIT.unreachable);
    expect(untrusted.stderr).toContain('certificate this machine does not trust');
    await expect(fetch(`http://127.0.0.1:${apiPort}/health`)).rejects.toThrow();

    // a local user reads nothing of the stack: not the secrets, not n8n's key or database, not the logs or restores
    if (process.getuid?.() === 0) {
      const asNobody = (...args: string[]) => spawnSync('runuser', ['-u', 'nobody', '--', ...args], { encoding: 'utf8' });
      for (const file of ['secrets/repository-passphrase', 'secrets/webhook-secret', 'secrets/audit-key', 'secrets/tls-key.pem', 'n8n/.n8n/config', 'n8n/.n8n/database.sqlite', 'logs/api.log']) {
        expect(asNobody('cat', path.join(dataDir, file)).status, file).not.toBe(0);
        expect(statSync(path.join(dataDir, file)).mode & 0o077, file).toBe(0);
      }
      expect(asNobody('ls', dataDir).status).not.toBe(0);
      expect(asNobody('find', dataDir, '-readable', '-type', 'f').stdout).toBe('');
    }
    // and a stranger asking /health learns up or down, not where the repository is
    const health = (await (await trusting(ca, `https://127.0.0.1:${apiPort}/health`)).json()) as { checks: Record<string, object> };
    expect(health.checks.repository).toEqual({ status: 'ok' });

    // a database in the stack's own PostgreSQL, which `backup postgres` backs up
    const catalogUrl = `postgresql://postgres:${readFileSync(path.join(dataDir, 'secrets', 'postgres-password'), 'utf8').trim()}@127.0.0.1:${env.DBM_CATALOG_PORT}`;
    const { Client } = await import('pg');
    const admin = new Client({ connectionString: `${catalogUrl}/postgres` });
    await admin.connect();
    await admin.query('CREATE DATABASE shop');
    await admin.end();
    const shop = new Client({ connectionString: `${catalogUrl}/shop` });
    await shop.connect();
    await shop.query(`CREATE TABLE orders (id serial PRIMARY KEY, item text); INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 500) g`);
    await shop.end();

    // the seed's command, waited on: postgres and the default files (the product's own configuration)
    const backup = await run(['backup', 'postgres,files', '--type', 'full', '--wait', '--description', 'first'], 180_000);
    expect(backup.stderr).toMatch(/job job_\S+ queued/);
    expect(backup.code).toBe(EXIT.ok);
    const jobId = /backup job (job_\S+): completed/.exec(backup.stdout)![1];
    expect(backup.stdout).toMatch(/^postgres +completed +[0-9a-f]{12}/m);
    expect(backup.stdout).toMatch(/^files +completed +[0-9a-f]{12}/m);
    expect(backup.stdout).toMatch(/^TARGET +STATUS +SNAPSHOT +READ +NEW +STORED +TOOK/m);
    const passphrase = readFileSync(path.join(dataDir, 'secrets', 'repository-passphrase'), 'utf8').trim();
    expect((await Repository.open(openStorage(path.join(dataDir, 'repository')), { passphrase })).config.compressionLevel, 'DBM_COMPRESSION=fast').toBe(1);

    // status, list, jobs show
    const status = JSON.parse((await run(['status', '--json', '--verbose', '--storage'])).stdout) as {
      status: string;
      last_success: { target: string; job_id: string }[];
      health: { status: string };
      storage: { repository: { snapshots: number } };
    };
    expect(status.last_success.map((s) => [s.target, s.job_id]).sort()).toEqual([['files', jobId], ['postgres', jobId]]);
    expect(status.health.status).toBe('healthy');
    expect(status.storage.repository.snapshots).toBeGreaterThanOrEqual(2);
    const human = await run(['status', '--verbose']);
    expect(human.stdout).toMatch(/^catalog +ok/m);
    const list = await run(['list', '--target', 'postgres']);
    expect(list.stdout).toContain(jobId);
    expect(list.stdout).toMatch(/1–1 of 1/);

    // restore the files under a directory and the database under a new name, verified first
    const into = path.join(dataDir, 'restores', 'manual');
    const restore = await run(['restore', '--backup-id', jobId, '--targets', 'postgres,files', '--directory', into, '--database', 'shop', '--as', 'shop_restored', '--verify', '--wait', '--verbose'], 180_000);
    expect(restore.code, restore.stderr).toBe(EXIT.ok);
    expect(restore.stdout).toMatch(/restore job job_\S+: completed/);
    expect(restore.stdout).toMatch(/^TARGET +STATUS +SNAPSHOT +WRITTEN +TOOK/m);
    expect(restore.stdout).toMatch(/^files +completed +[0-9a-f]{12} +[\d.]+ \S*B +[\d.]+ ?m?s/m);
    const config = path.join(dataDir, 'config');
    expect(await describeTree(path.join(into, 'files', 'config'))).toEqual(await describeTree(config));
    expect(await databaseExistsAt(catalogUrl, 'shop_restored')).toBe(true);
    expect(await fingerprintAt(catalogUrl, 'shop_restored')).toEqual(await fingerprintAt(catalogUrl, 'shop'));

    // verify: the job, and the latest of a target
    expect((await run(['verify', jobId, '--wait'], 120_000)).code).toBe(EXIT.ok);
    expect((await run(['verify', '--target', 'postgres', '--latest', '--wait'], 120_000)).code).toBe(EXIT.ok);

    // schedules
    const created = await run(['schedule', 'create', '--name', 'daily-full-backup', '--cron', '0 2 * * *', '--targets', 'postgres,files', '--type', 'full', '--retention', '30d']);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    const schedules = await run(['schedule', 'list']);
    expect(schedules.stdout).toMatch(/^daily-full-backup +enabled +0 2 \* \* \* +full +postgres,files +\d{4}-\d\d-\d\d 02:00 +never/m);
    expect((await run(['schedule', 'disable', 'daily-full-backup'])).stdout).toContain('disabled');
    expect((await run(['schedule', 'list'])).stdout).toMatch(/^daily-full-backup +disabled/m);
    expect((await run(['schedule', 'enable', 'daily-full-backup'])).code).toBe(EXIT.ok);
    expect((await run(['schedule', 'delete', 'daily-full-backup'])).code).toBe(EXIT.ok);

    // cleanup, a dry run
    const cleanup = await run(['cleanup', '--older-than', '30d', '--dry-run', '--wait'], 120_000);
    expect(cleanup.code, cleanup.stderr).toBe(EXIT.ok);
    expect(cleanup.stdout).toMatch(/would remove 0, kept \d+/);

    // errors: one line, an exit code to match
    const bad = await run(['backup', 'tape']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/^error: targets\.0: Invalid option/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const viewer = (await run(['token', 'create', '--name', 'dashboard', '--role', 'viewer'])).stdout.trim();
    const refused = await runCli(['backup', 'files'], { ...cli, DBM_API_TOKEN: viewer });
    expect(refused.code).toBe(EXIT.unauthorized);
    expect(refused.stderr).toContain('needs the operator role');
    expect((await runCli(['status'], { ...cli, DBM_API_TOKEN: '' })).code).toBe(EXIT.unauthorized);
    const nowhere = await runCli(['status'], { ...cli, DBM_API_URL: `http://127.0.0.1:${await freePort()}` });
    expect(nowhere.code).toBe(EXIT.unreachable);
    expect(nowhere.stderr).toContain('cannot reach the API');
    expect((await run(['jobs', 'restart', jobId])).stderr).toContain('completed; there is nothing to restart');

    // an operator cannot make the stack read or write outside its roots, nor run an admin's restore
    const outside = await run(['restore', '--backup-id', jobId, '--targets', 'files', '--directory', '/etc/dbm-x']);
    expect(outside.code).toBe(EXIT.usage);
    expect(outside.stderr).toContain('outside the allowed roots');
    const secrets = await run(['backup', 'files', '--paths', path.join(dataDir, 'secrets')]);
    expect(secrets.code).toBe(EXIT.usage);
    expect(secrets.stderr).toContain("holds the product's own data");
    const operator = (await run(['token', 'create', '--name', 'ops', '--role', 'operator'])).stdout.trim();
    const over = await runCli(['restore', '--backup-id', jobId, '--targets', 'files', '--original'], { ...cli, DBM_API_TOKEN: operator });
    expect(over.code).toBe(EXIT.unauthorized);
    expect(over.stderr).toContain('needs the admin role');
    const catalogOver = await run(['restore', '--backup-id', jobId, '--targets', 'postgres', '--database', 'backup_catalog', '--force']);
    expect(catalogOver.code).toBe(EXIT.usage);
    const audit = await run(['audit', 'verify']);
    expect(audit.code, audit.stderr).toBe(EXIT.ok);
    expect(audit.stdout).toMatch(/^audit log intact: \d+ rows chained/);

    // n8n killed mid-backup: the job fails at once with the reason, the stack starts n8n again, the job restarts
    const huge = path.join(base, 'sources', 'huge');
    await fs.mkdir(huge, { recursive: true });
    await fs.writeFile(path.join(huge, 'sparse.img'), '');
    await fs.truncate(path.join(huge, 'sparse.img'), 64 * 2 ** 30);
    const long = JSON.parse((await run(['backup', 'files', '--paths', huge, '--json'])).stdout) as { job_id: string };
    const jobOf = async () => JSON.parse((await run(['jobs', 'show', long.job_id, '--json'])).stdout) as { status: string; error: string | null; live: Record<string, { bytes_read: number }> };
    // while it runs, the node reports the bytes it has read
    let moving = 0;
    for (let i = 0; i < 100 && moving === 0; i++) {
      await sleep(300);
      moving = (await jobOf()).live.files?.bytes_read ?? 0;
    }
    expect(moving).toBeGreaterThan(0);
    const n8nPid = pidListeningOn(Number(env.DBM_N8N_PORT));
    process.kill(n8nPid, 'SIGKILL');
    const killedAt = Date.now();
    let lost = await jobOf();
    while (lost.status === 'running' && Date.now() - killedAt < 60_000) {
      await sleep(500);
      lost = await jobOf();
    }
    expect(lost).toMatchObject({ status: 'failed', error: expect.stringContaining('n8n stopped during the job (killed by SIGKILL)') });
    let n8nBack = false;
    for (let i = 0; i < 120 && !n8nBack; i++) {
      await sleep(1000);
      n8nBack = ((await trusting(ca, `https://127.0.0.1:${apiPort}/health`, token).then((r) => r.json())) as { checks: { n8n: { status: string } } }).checks.n8n.status === 'ok';
    }
    expect(n8nBack).toBe(true);
    await fs.truncate(path.join(huge, 'sparse.img'), 1024 * 1024);
    const again2 = await run(['jobs', 'restart', long.job_id, '--wait'], 180_000);
    expect(again2.code, again2.stderr).toBe(EXIT.ok);
    expect(again2.stdout).toMatch(/backup job \S+: completed/);
    expect(again2.stderr).toMatch(/^backup job_\S+: (queued|running) \d+ % \(\d+\/1 steps\)/m); // progress as plain lines off a terminal

    // the catalog PostgreSQL stopped hard: the stack starts it again, and the API answers again
    const pgCtl = (await fs.readdir('/usr/lib/postgresql')).sort().reverse().map((v) => `/usr/lib/postgresql/${v}/bin/pg_ctl`)[0];
    const asPg = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    // --no-wait: pg_ctl would wait for postmaster.pid to go, and the supervisor may already have written a new one
    const pidOf = () => {
      try {
        return readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0];
      } catch {
        return undefined; // stopped, not yet started again
      }
    };
    const crashedPid = pidOf();
    const [cmd, ...args] = [...asPg, pgCtl, '-D', path.join(dataDir, 'postgres'), '-m', 'immediate', '--no-wait', 'stop'];
    const crash = spawnSync(cmd, args, { encoding: 'utf8' });
    expect(crash.status, crash.stderr).toBe(0);
    const crashedAt = Date.now();
    let back = await runCli(['status'], cli);
    while ((back.code !== EXIT.ok || [undefined, crashedPid].includes(pidOf())) && Date.now() - crashedAt < 60_000) {
      expect([EXIT.unreachable, EXIT.ok]).toContain(back.code); // meanwhile: "the catalog database is unavailable", exit 3
      await sleep(1000);
      back = await runCli(['status'], cli);
    }
    expect(back.code, back.stderr).toBe(EXIT.ok);
    expect(pidOf()).not.toBe(crashedPid); // it did stop, and was started again

    // a config file works too
    await fs.mkdir(path.join(base, 'data-backup-manager'), { recursive: true });
    await fs.writeFile(path.join(base, 'data-backup-manager', 'config.json'), JSON.stringify({ api_url: cli.DBM_API_URL, token, ca }));
    expect((await runCli(['jobs', 'show', jobId], { XDG_CONFIG_HOME: base, XDG_DATA_HOME: base })).stdout).toContain(`backup job ${jobId}: completed`);

    // logs: the API's, and one per job; no token in them
    await sleep(1500);
    const apiLog = readFileSync(path.join(dataDir, 'logs', 'api.log'), 'utf8');
    expect(apiLog).toContain('"path":"/api/v1/backup/create"');
    expect(apiLog).not.toContain(token);
    expect(readFileSync(path.join(dataDir, 'logs', 'jobs', `${jobId}.log`), 'utf8')).toMatch(/INFO +completed/);
    const cliLog = readFileSync(path.join(base, 'data-backup-manager', 'cli.log'), 'utf8');
    expect(cliLog).toMatch(/ POST https:\/\/127\.0\.0\.1:\d+\/api\/v1\/backup\/create ok$/m);
    expect(cliLog).toMatch(/ POST .*\/api\/v1\/backup\/create error: targets\.0/m);
    expect(cliLog).not.toContain(token);
    await stop();

    // a second start reuses everything: no new admin token, the same catalog and jobs
    const second = await start();
    expect(second).not.toMatch(/provisioned|admin token/);
    const again = await run(['backup', 'files', '--wait'], 180_000);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect((await run(['list', '--json'])).stdout).toContain(jobId);
    await stop();
  }, 900_000);

  it('refuses plain HTTP on an address other than loopback unless asked for explicitly', async () => {
    const res = spawnSync(process.execPath, [CLI, 'stack', 'start'], {
      env: { ...process.env, DBM_DATA_DIR: path.join(base, 'plain'), DBM_TLS: 'off', DBM_API_HOST: '0.0.0.0' } as NodeJS.ProcessEnv,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('would send API tokens in clear over the network');
  });
});

/** A GET that trusts the stack's self-signed certificate. */
async function trusting(caFile: string, url: string, token?: string): Promise<{ json(): Promise<unknown> }> {
  const { Agent, fetch: get } = await import('undici');
  return get(url, { dispatcher: new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } }), headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** The process listening on a TCP port on 127.0.0.1 (from /proc: its socket's inode among its fds). */
async function databaseExistsAt(url: string, name: string): Promise<boolean> {
  const { Client } = await import('pg');
  const c = new Client({ connectionString: `${url}/postgres` });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

async function fingerprintAt(url: string, db: string): Promise<unknown> {
  const { Client } = await import('pg');
  const c = new Client({ connectionString: `${url}/${db}` });
  await c.connect();
  try {
    return (await c.query('SELECT count(*)::int AS n, md5(string_agg(id || item, \',\' ORDER BY id)) AS h FROM orders')).rows[0];
  } finally {
    await c.end();
  }
}
