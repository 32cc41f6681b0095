import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * n8n for the product and the tests: installed apart from this package (a
 * community package only peer-depends on n8n-workflow), our package installed
 * into it the way n8n installs community packages, started, and provisioned
 * headlessly (owner, API key) so workflows can be imported through its API.
 */
export const N8N_VERSION = '2.39.0';
export const PACKAGE_NAME = 'n8n-nodes-data-backup-manager';
/** This package's root: the nearest folder above us with our package.json (from src or from dist). */
const PROJECT_ROOT = ((): string => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
  }
  throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${__dirname}`);
})();

export function defaultRuntimeDir(): string {
  return path.join(PROJECT_ROOT, '.runtime', 'n8n');
}

function installedVersion(runtimeDir: string): string | null {
  const pkg = path.join(runtimeDir, 'node_modules', 'n8n', 'package.json');
  return existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : null;
}

/** About how many packages n8n 2.39 installs (measured), for the progress lines. */
const N8N_PACKAGES = 1600;

/** Packages unpacked so far under a node_modules folder (scoped ones counted one by one). */
function packagesIn(nodeModules: string): number {
  let n = 0;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    n += entry.name.startsWith('@') ? readdirSync(path.join(nodeModules, entry.name)).length : 1;
  }
  return n;
}

/**
 * Installs n8n into its own folder unless the right version is there (~4 minutes, ~3 GB, the first
 * time), saying how far it got every 15 s: a first start is otherwise silent for minutes.
 */
export async function ensureN8nInstalled(runtimeDir = defaultRuntimeDir(), log: (line: string) => void = () => undefined): Promise<void> {
  if (installedVersion(runtimeDir) === N8N_VERSION) return;
  mkdirSync(runtimeDir, { recursive: true });
  // The folder's package.json approves the install scripts n8n needs (node, sqlite3) and denies the rest.
  copyFileSync(path.join(PROJECT_ROOT, 'stack', 'n8n-runtime.package.json'), path.join(runtimeDir, 'package.json'));
  log(`installing n8n ${N8N_VERSION} into ${runtimeDir} (first time only: about 5 minutes and 3 GB)`);
  const started = Date.now();
  let last = -1;
  const progress = setInterval(() => {
    let unpacked = 0;
    try {
      unpacked = packagesIn(path.join(runtimeDir, 'node_modules'));
    } catch {
      // nothing unpacked yet
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    const took = `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
    const share = Math.min(99, Math.round((unpacked / N8N_PACKAGES) * 100));
    // npm first resolves the whole tree (a minute or two, nothing on disk), then unpacks it
    if (unpacked === 0) log(`installing n8n: resolving its ~${N8N_PACKAGES} packages, ${took}`);
    else if (unpacked === last) log(`installing n8n: ${unpacked} packages unpacked; running their install scripts (sqlite3 …), ${took}`);
    else log(`installing n8n: ${unpacked} of about ${N8N_PACKAGES} packages unpacked (${share} %), ${took}`);
    last = unpacked;
  }, 15_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: runtimeDir, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0 || installedVersion(runtimeDir) !== N8N_VERSION) throw new Error(`installing n8n into ${runtimeDir} failed (npm exited with ${code})`);
  } finally {
    clearInterval(progress);
  }
  log(`n8n ${N8N_VERSION} installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * Installs this package into an n8n user folder as n8n 2.x installs a
 * community package: npm pack, unpack into .n8n/nodes/node_modules, drop dev,
 * peer and optional dependencies, and install the rest without scripts.
 */
export function installCommunityPackage(userFolder: string, packageRoot = PROJECT_ROOT): string {
  const nodesDir = path.join(userFolder, '.n8n', 'nodes');
  const target = path.join(nodesDir, 'node_modules', PACKAGE_NAME);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const packDir = path.join(userFolder, '.pack');
  mkdirSync(packDir, { recursive: true });
  const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: packageRoot, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const tarball = path.join(packDir, pack.stdout.trim().split('\n').pop()!);
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  if (untar.status !== 0) throw new Error(`unpacking ${tarball} failed`);
  const pkgFile = path.join(target, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<string, unknown>;
  delete pkg.devDependencies;
  delete pkg.peerDependencies;
  delete pkg.optionalDependencies;
  writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  const install = spawnSync('npm', ['install', '--ignore-scripts', '--install-strategy=shallow', '--package-lock=false', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: target,
    encoding: 'utf8',
  });
  if (install.status !== 0) throw new Error(`installing the package's dependencies failed: ${install.stderr}`);
  writeFileSync(path.join(nodesDir, 'package.json'), JSON.stringify({ name: 'installed-nodes', private: true, dependencies: { [PACKAGE_NAME]: pkg.version } }, null, 2));
  return target;
}

export interface N8nOptions {
  userFolder: string;
  /** main: the editor, API, webhooks and triggers (and, outside queue mode, every execution); worker: executions taken from the queue */
  role?: 'main' | 'worker';
  /** a worker's executions at once (`n8n worker --concurrency`) */
  concurrency?: number;
  /** main: the editor's and API's port; worker: its health server's */
  port: number;
  /** the task broker's port; two n8n on one machine need different ones */
  brokerPort: number;
  runtimeDir?: string;
  env?: Record<string, string>;
  logFile?: string;
}

export class N8nProcess {
  private child: ChildProcess | null = null;
  private stopping = false;
  readonly baseUrl: string;
  /** called when n8n, once ready, ends without being asked to (killed, crashed), with how it ended */
  onUnexpectedExit: ((how: string) => void) | null = null;

  constructor(private readonly opts: N8nOptions) {
    this.baseUrl = `http://127.0.0.1:${opts.port}`;
  }

  async start(timeoutMs = 180_000): Promise<void> {
    const runtime = this.opts.runtimeDir ?? defaultRuntimeDir();
    const node = path.join(runtime, 'node_modules', '.bin', 'node');
    const bin = path.join(runtime, 'node_modules', 'n8n', 'bin', 'n8n');
    const log = this.opts.logFile ?? path.join(this.opts.userFolder, 'n8n.log');
    mkdirSync(path.dirname(log), { recursive: true });
    const out = openSync(log, 'a');
    const worker = this.opts.role === 'worker';
    const args = worker ? ['worker', `--concurrency=${this.opts.concurrency ?? 5}`] : ['start'];
    this.child = spawn(node, [bin, ...args], {
      env: {
        PATH: `${path.join(runtime, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? this.opts.userFolder,
        N8N_USER_FOLDER: this.opts.userFolder,
        N8N_LISTEN_ADDRESS: '127.0.0.1',
        // a worker serves only /healthz (and readiness), on a port of its own
        ...(worker ? { QUEUE_HEALTH_CHECK_ACTIVE: 'true', QUEUE_HEALTH_CHECK_PORT: String(this.opts.port), N8N_WORKER_SERVER_ADDRESS: '127.0.0.1' } : { N8N_PORT: String(this.opts.port) }),
        N8N_RUNNERS_BROKER_PORT: String(this.opts.brokerPort),
        N8N_DIAGNOSTICS_ENABLED: 'false',
        N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
        N8N_PERSONALIZATION_ENABLED: 'false',
        N8N_SECURE_COOKIE: 'false',
        // n8n's settings file (its encryption key) readable by its owner only, and no stack traces in its answers
        N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
        NODE_ENV: 'production',
        N8N_COMMUNITY_PACKAGES_ENABLED: 'true',
        ...this.opts.env,
      },
      stdio: ['ignore', out, out],
    });
    this.stopping = false;
    let up = false;
    this.child.once('exit', (code, signal) => {
      if (up && !this.stopping) this.onUnexpectedExit?.(signal ? `killed by ${signal}` : `exit code ${code}`);
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`n8n exited with code ${this.child.exitCode}; see ${log}`);
      // /healthz answers before migrations are done, when every other route says "n8n is starting up":
      // ready is /healthz/readiness, and a REST route that answers JSON.
      try {
        const ready = await fetch(`${this.baseUrl}/healthz/readiness`);
        const settings = ready.ok && !worker ? await fetch(`${this.baseUrl}/rest/settings`) : null;
        if ((worker && ready.ok) || (settings?.ok && (settings.headers.get('content-type') ?? '').includes('json'))) {
          up = true;
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(500);
    }
    throw new Error(`n8n did not answer ${this.baseUrl}/healthz within ${timeoutMs / 1000} s; see ${log}`);
  }

  get stopped(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export interface Owner {
  email: string;
  password: string;
  firstName?: string;
  lastName?: string;
}

/** First start: creates the owner and an API key with every scope. */
export async function provisionOwner(baseUrl: string, owner: Owner): Promise<{ apiKey: string; cookie: string }> {
  const setup = await fetch(`${baseUrl}/rest/owner/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: owner.email, password: owner.password, firstName: owner.firstName ?? 'Backup', lastName: owner.lastName ?? 'Admin' }),
  });
  if (!setup.ok) throw new Error(`n8n owner setup failed: ${setup.status} ${await setup.text()}`);
  const cookie = setup.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const scopes = await fetch(`${baseUrl}/rest/api-keys/scopes`, { headers: { cookie } });
  if (!scopes.ok) throw new Error(`listing API key scopes failed: ${scopes.status}`);
  const scopeList = ((await scopes.json()) as { data: string[] }).data;
  const created = await fetch(`${baseUrl}/rest/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ label: 'data-backup-manager', expiresAt: null, scopes: scopeList }),
  });
  if (!created.ok) throw new Error(`creating an n8n API key failed: ${created.status} ${await created.text()}`);
  return { apiKey: ((await created.json()) as { data: { rawApiKey: string } }).data.rawApiKey, cookie };
}

/** The few calls of n8n's public API we use. */
export class N8nClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  private async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}/api/v1${route}`, {
      method,
      headers: { 'X-N8N-API-KEY': this.apiKey, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`n8n ${method} ${route}: ${res.status} ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  createCredential(name: string, type: string, data: Record<string, unknown>): Promise<{ id: string }> {
    return this.call('POST', '/credentials', { name, type, data });
  }

  createWorkflow(workflow: object): Promise<{ id: string }> {
    return this.call('POST', '/workflows', workflow);
  }

  activate(id: string): Promise<unknown> {
    return this.call('POST', `/workflows/${id}/activate`);
  }

  deactivate(id: string): Promise<unknown> {
    return this.call('POST', `/workflows/${id}/deactivate`);
  }

  /** Every workflow's id, name and whether it is published (n8n pages them by cursor). */
  async workflows(): Promise<{ id: string; name: string; active: boolean }[]> {
    const all: { id: string; name: string; active: boolean }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.call<{ data: { id: string; name: string; active: boolean }[]; nextCursor?: string | null }>(
        'GET',
        `/workflows?limit=250&excludePinnedData=true${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      all.push(...page.data.map(({ id, name, active }) => ({ id, name, active })));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return all;
  }

  deleteWorkflow(id: string): Promise<unknown> {
    return this.call('DELETE', `/workflows/${id}`);
  }

  executions(workflowId: string, limit = 100): Promise<{ data: { id: string; status: string; finished: boolean; startedAt?: string; stoppedAt?: string }[] }> {
    return this.call('GET', `/executions?workflowId=${encodeURIComponent(workflowId)}&includeData=false&limit=${limit}`);
  }

  /** Stops a running execution (its nodes see n8n's cancel signal); one that already ended is left as it is. */
  async stopExecution(id: string): Promise<void> {
    try {
      await this.call('POST', `/executions/${encodeURIComponent(id)}/stop`);
    } catch (err) {
      if (!/: (404|409) /.test((err as Error).message)) throw err;
    }
  }

  /** An execution's status alone (cheap: no execution data). */
  executionStatus(id: string): Promise<{ id: string; status: string }> {
    return this.call('GET', `/executions/${encodeURIComponent(id)}?includeData=false`);
  }

  execution(id: string): Promise<{ id: string; status: string; data?: unknown }> {
    return this.call('GET', `/executions/${id}?includeData=true`);
  }
}
