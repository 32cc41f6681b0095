import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exitCodes';
import { openStorage, Repository } from '../../engine';
import { tempDir } from '../support/backends';
import { runCli } from '../support/cli';
import { archiveWithGap } from '../support/pitr';
import { freePort } from '../support/ports';
import { startStack, stopStack } from '../support/stack';

/** Debian's chromium package (.ci/run installs it); its /usr/bin/chromium is a shell wrapper around this. */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
/** Set to a directory to keep a screenshot of each page (the README's come from here). */
const SHOTS = process.env.DBM_SCREENSHOTS;

/**
 * The web console in a real Chromium against the stack as `npm start` runs
 * it (TLS, n8n, the embedded PostgreSQL): log in, see the backups, browse a
 * snapshot, download and restore a file, restore a database under a new name,
 * watch a running job to its end, manage a schedule; and a viewer who is not
 * offered what a viewer may not do.
 */
describe('the web console in Chromium', () => {
  const base = tempDir('dbm-console-');
  chmodSync(base, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const dataDir = path.join(base, 'data');
  let stack: ChildProcess | null = null;
  let browser: Browser;
  let url: string;
  let adminToken: string;
  let catalogUrl: string;
  let cli: Record<string, string>;
  const run = (args: string[], timeoutMs = 120_000) => runCli(args, cli, undefined, timeoutMs);

  beforeAll(async () => {
    const apiPort = await freePort();
    const env = {
      DBM_DATA_DIR: dataDir,
      DBM_PORT: String(apiPort),
      DBM_CATALOG_PORT: String(await freePort()),
      DBM_N8N_PORT: String(await freePort()),
      DBM_N8N_BROKER_PORT: String(await freePort()),
    };
    const started = await startStack(env);
    stack = started.child;
    const out = [started.output()];
    adminToken = /admin token: (dbm_\S+)/.exec(out.join(''))![1];
    url = `https://127.0.0.1:${apiPort}`;
    expect(out.join('')).toContain(`console:     ${url}/`);
    cli = { DBM_API_URL: url, DBM_API_CA: path.join(dataDir, 'secrets', 'tls-cert.pem'), DBM_API_TOKEN: adminToken, XDG_CONFIG_HOME: base, XDG_DATA_HOME: base };
    catalogUrl = `postgresql://postgres:${readFileSync(path.join(dataDir, 'secrets', 'postgres-password'), 'utf8').trim()}@127.0.0.1:${env.DBM_CATALOG_PORT}`;
    await sql('postgres', 'CREATE DATABASE shop');
    await sql('shop', `CREATE TABLE orders (id serial PRIMARY KEY, item text); INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 500) g`);
    await sql('postgres', 'CREATE DATABASE slow');
    await sql('slow', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    // an archived cluster, made here as the archiver would: a base backup and WAL with a segment missing (its window has a gap)
    const repo = await Repository.initOrOpen(openStorage(path.join(dataDir, 'repository')), { passphrase: readFileSync(path.join(dataDir, 'secrets', 'repository-passphrase'), 'utf8').trim() });
    await archiveWithGap(repo, 'main', new Date(Date.now() - 3_600_000));
    if (SHOTS) await fs.mkdir(SHOTS, { recursive: true });
    // the self-signed certificate of the stack: this browser is told to accept it, as a user would once
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, acceptInsecureCerts: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stopStack(stack);
  }, 60_000);

  async function sql(db: string, text: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: `${catalogUrl}/${db}` });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  async function login(page: Page, token: string): Promise<void> {
    await page.goto(`${url}/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#token');
    await page.type('#token', token);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
  }

  /** Waits until the main area's text matches. */
  async function untilText(page: Page, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
    const started = Date.now();
    for (;;) {
      const text = await page.$eval('main', (m) => (m as HTMLElement).innerText);
      if (pattern.test(text)) return text;
      if (Date.now() - started > timeoutMs) throw new Error(`the page never showed ${pattern}; it shows:\n${text}`);
      await sleep(250);
    }
  }

  /**
   * Each page as it is shown: a screenshot when asked for, and axe-core's WCAG 2 A and AA rules
   * (labels, names, contrast, landmarks …), none of which may fail.
   */
  const shot = async (page: Page, name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`) as `${string}.png`, fullPage: true });
    await page.addScriptTag({ path: path.join(__dirname, '..', '..', 'node_modules', 'axe-core', 'axe.min.js') });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
    });
    expect(violations, `accessibility of ${name}`).toEqual([]);
  };
  /** A page of its own context (its own cookies), able to take axe-core's script despite the console's CSP. */
  const newPage = async (viewport: { width: number; height: number; isMobile?: boolean }): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setBypassCSP(true);
    await page.setViewport(viewport);
    return { context, page };
  };

  it('logs in, shows the backups, browses and downloads a file, restores it and a database under a new name, and follows a running job to its end', async () => {
    const backup = await run(['backup', 'postgres,files', '--type', 'full', '--databases', 'shop', '--wait'], 180_000);
    expect(backup.code, backup.stderr).toBe(EXIT.ok);
    const filesSnap = /^files +completed +([0-9a-f]{12})/m.exec(backup.stdout)![1];
    const pgSnap = /^postgres +completed +([0-9a-f]{12})/m.exec(backup.stdout)![1];

    const { context, page } = await newPage({ width: 1280, height: 900 });
    // a wrong token is refused on the page
    await page.goto(`${url}/`, { waitUntil: 'networkidle0' });
    await page.type('#token', 'dbm_wrong');
    await page.click('form button[type=submit]');
    await page.waitForSelector('.error:not([hidden])');
    expect(await page.$eval('.error', (e) => e.textContent)).toContain('not valid');
    await shot(page, 'login');
    await page.$eval('#token', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#token', adminToken);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
    // the session is a cookie script cannot read
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'dbm_session')!;
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');

    const overview = await untilText(page, /Targets[\s\S]*files[\s\S]*postgres/);
    expect(overview).toMatch(/files\s+Last success: \d+ s ago/);
    expect(overview).toMatch(/Point-in-time recovery/);
    await shot(page, 'overview');

    // snapshots, then a directory of the files snapshot, then a file of it
    await page.goto(`${url}/#/snapshots`);
    await untilText(page, new RegExp(`browse ${filesSnap.slice(0, 8)}`));
    await shot(page, 'snapshots');
    await page.click(`a[href^="#/snapshots/${filesSnap}"]`);
    await untilText(page, /Snapshot [0-9a-f]{8} of files[\s\S]*config\//);
    await page.click('td a[href*="path=%2Fconfig"]');
    const configDir = path.join(dataDir, 'config');
    const name = (await fs.readdir(configDir, { withFileTypes: true })).find((e) => e.isFile())!.name;
    await untilText(page, new RegExp(name.replace(/\./g, '\\.')));
    await shot(page, 'browse');
    // download: the link the page offers, fetched as the browser would (the session cookie, no token in the URL)
    const href = await page.$eval(`a[aria-label="Download ${name}"]`, (a) => (a as HTMLAnchorElement).href);
    expect(href).not.toContain('dbm_');
    const downloaded = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    expect(downloaded).toBe(readFileSync(path.join(configDir, name), 'utf8'));

    // restore that one file: the form, then the job page to its end
    await page.click(`button[aria-label="Restore ${name}"]`);
    expect(await page.$eval('#restore-path', (i) => (i as HTMLInputElement).value)).toBe(`config/${name}`);
    await page.click('#restore-h ~ form button[type=submit]');
    await page.waitForFunction(() => location.hash.startsWith('#/jobs/job_'));
    const restoreJob = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/jobs/'.length));
    await untilText(page, /Status\s+completed/);
    const restored = path.join(dataDir, 'restores', restoreJob, 'files', 'config');
    expect(await fs.readdir(restored)).toEqual([name]); // that file, and nothing else of the snapshot
    expect(readFileSync(path.join(restored, name), 'utf8')).toBe(readFileSync(path.join(configDir, name), 'utf8'));

    // a database of the postgres snapshot under a new name
    await page.goto(`${url}/#/snapshots/${pgSnap}`);
    await page.waitForSelector('#restore-db');
    await page.select('#restore-db', 'shop');
    await page.type('#restore-as', 'shop_console');
    await shot(page, 'restore-database');
    await page.click('#restore-h ~ form button[type=submit]');
    await page.waitForFunction(() => location.hash.startsWith('#/jobs/job_'));
    await untilText(page, /Status\s+completed/);
    expect((await sql('shop_console', 'SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(500);

    // a job that runs until we let it: pg_dump waits for the lock this test holds
    const holder = new pg.Client({ connectionString: `${catalogUrl}/slow` });
    await holder.connect();
    await holder.query('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
    const slow = await run(['backup', 'postgres', '--databases', 'slow']);
    expect(slow.code, slow.stderr).toBe(EXIT.ok);
    const slowJob = /job (job_\S+) queued/.exec(slow.stdout)![1];
    await page.goto(`${url}/#/jobs/${slowJob}`);
    await untilText(page, /Status\s+running/);
    expect(await page.$('main progress')).not.toBeNull();
    await shot(page, 'job-running');
    // cancelled from its page (after the browser's confirmation), then restarted from it: a new job, on its own page
    page.once('dialog', (d) => void d.accept());
    await page.click('button.danger');
    await untilText(page, /Status\s+cancelled/);
    expect(await page.$('main progress')).toBeNull();
    await page.click('button::-p-text(Restart job)');
    await page.waitForFunction((old) => location.hash.startsWith('#/jobs/job_') && !location.hash.endsWith(old), {}, slowJob);
    const restarted = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/jobs/'.length));
    await untilText(page, /Status\s+(queued|running)/);
    await holder.query('COMMIT');
    await holder.end();
    // the same page, not reloaded, follows it to its end
    await untilText(page, /Status\s+completed/);
    expect((await run(['jobs', 'show', slowJob, '--json'])).stdout).toMatch(/"status": "cancelled"/);
    expect((await run(['jobs', 'show', restarted, '--json'])).stdout).toContain(`"restart_of": "${slowJob}"`);
    expect(await page.$('main progress')).toBeNull();
    expect(await page.$eval('main', (m) => (m as HTMLElement).innerText)).toMatch(/postgres\s+completed/);

    // jobs: the list, filtered
    await page.goto(`${url}/#/jobs?kind=restore`);
    const jobs = await untilText(page, /job\(s\), newest first/);
    expect(jobs).toContain(restoreJob);
    expect(jobs).not.toContain(slowJob);
    await shot(page, 'jobs');
    await context.close();
  }, 600_000);

  it("shows a cluster's point-in-time window with its gap, and picks a moment on it for a restore", async () => {
    const { context, page } = await newPage({ width: 1280, height: 900 });
    await login(page, adminToken);
    const overview = await untilText(page, /Cluster main/);
    expect(overview).toMatch(/Gap: 1 WAL segment\(s\) missing \(000000010000000000000004 … 000000010000000000000004\)/);
    expect(await page.$$('.timeline .gap')).toHaveLength(1);
    expect(await page.$$('.timeline .base')).toHaveLength(1);
    await page.goto(`${url}/#/snapshots?target=postgres-cluster`);
    await untilText(page, /snapshot\(s\) of postgres-cluster/);
    await page.click('a[aria-label^="browse "]');
    await page.waitForSelector('#restore-slider');
    await page.waitForFunction(() => (document.getElementById('restore-time') as HTMLInputElement).value !== '');
    const latest = await page.$eval('#restore-time', (i) => (i as HTMLInputElement).value);
    // the slider's left end is the window's earliest moment: the base backup's end
    await page.$eval('#restore-slider', (i) => {
      (i as HTMLInputElement).value = '0';
      i.dispatchEvent(new Event('input'));
    });
    const earliest = await page.$eval('#restore-time', (i) => (i as HTMLInputElement).value);
    expect(Date.parse(earliest)).toBeLessThan(Date.parse(latest));
    await shot(page, 'pitr');
    await context.close();
  }, 300_000);

  it('creates a schedule with its next runs shown, and disables it', async () => {
    const { context, page } = await newPage({ width: 1280, height: 900 });
    await login(page, adminToken);
    await page.goto(`${url}/#/schedules`);
    await page.waitForSelector('#sched-name');
    await page.type('#sched-name', 'nightly');
    await page.$eval('#sched-cron', (i) => ((i as HTMLInputElement).value = ''));
    await page.type('#sched-cron', '30 3 * * *');
    await page.waitForFunction(() => /Next runs/.test(document.getElementById('sched-next')?.textContent ?? '') && /3:30/.test(document.getElementById('sched-next')?.textContent ?? ''));
    await page.click('#new-sched-h ~ form button[type=submit]');
    await untilText(page, /nightly\s+30 3 \* \* \*[\s\S]*enabled/);
    await shot(page, 'schedules');
    await page.click('button::-p-text(Disable nightly)');
    await untilText(page, /nightly\s+30 3 \* \* \*[\s\S]*disabled/);
    const listed = await run(['schedule', 'list']);
    expect(listed.stdout).toMatch(/^nightly +disabled +30 3 \* \* \*/m);
    await context.close();
  }, 300_000);

  it('offers a viewer no restore, download, cancel or schedule change; a phone-width page still works', async () => {
    const viewer = (await run(['token', 'create', '--name', 'console-viewer', '--role', 'viewer'])).stdout.trim();
    const { context, page } = await newPage({ width: 390, height: 844, isMobile: true });
    await login(page, viewer);
    expect(await page.$eval('#who', (e) => e.textContent)).toContain('(viewer)');
    await page.goto(`${url}/#/snapshots`);
    await untilText(page, /browse [0-9a-f]{8}/);
    await page.click('a[aria-label^="browse "]');
    await untilText(page, /Restoring needs the operator role/);
    expect(await page.$('#restore-h')).toBeNull();
    expect(await page.$('button[aria-label^="Restore"]')).toBeNull();
    expect(await page.$('a[aria-label^="Download"]')).toBeNull();
    await page.goto(`${url}/#/schedules`);
    await untilText(page, /Creating and changing schedules needs the admin role/);
    expect(await page.$('#sched-name')).toBeNull();
    // and the API agrees: a viewer's session cannot start a restore even with its CSRF token
    const refused = await page.evaluate(async () => {
      const me = (await (await fetch('/ui/session')).json()) as { csrf: string };
      const res = await fetch('/api/v1/restore/create', { method: 'POST', headers: { 'content-type': 'application/json', 'x-dbm-csrf': me.csrf }, body: JSON.stringify({ targets: ['files'] }) });
      return res.status;
    });
    expect(refused).toBe(403);
    // nothing wider than the screen
    await page.goto(`${url}/#/overview`);
    await untilText(page, /^Overview\s+Alerts[\s\S]*Targets/);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    await shot(page, 'phone-overview');
    await context.close();
  }, 300_000);
});
