import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The Redis of n8n's queue mode, when the stack runs workers and no
 * DBM_REDIS_URL is given: Debian's redis-server on 127.0.0.1 with a password,
 * as the `redis` user when started by root (a Lua sandbox escape then gains
 * nothing of root's). Its configuration, password included, goes in on
 * stdin: nothing on the command line (any local user reads that in ps), no
 * file to protect. Nothing is persisted: n8n keeps every execution in its
 * PostgreSQL database, and when Redis restarts the stack fails the jobs whose
 * queue entries went with it (see supervisor.ts).
 */
export interface RedisOptions {
  port: number;
  password: string;
  logFile: string;
  binary?: string;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private stopping = false;
  /** called when Redis, once up, ends without being asked to */
  onUnexpectedExit: ((how: string) => void) | null = null;

  constructor(readonly opts: RedisOptions) {}

  get url(): string {
    return redisUrl('127.0.0.1', this.opts.port, this.opts.password);
  }

  isRunning(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get stopped(): boolean {
    return this.stopping;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    const binary = this.opts.binary ?? 'redis-server';
    if (spawnSync(binary, ['--version']).status !== 0) {
      throw new Error('DBM_N8N_WORKERS needs Redis: install redis-server (apt-get install redis-server) or set DBM_REDIS_URL');
    }
    mkdirSync(path.dirname(this.opts.logFile), { recursive: true });
    const out = openSync(this.opts.logFile, 'a');
    const asRoot = process.getuid?.() === 0;
    const user = asRoot ? (spawnSync('id', ['-u', 'redis']).status === 0 ? 'redis' : 'nobody') : null;
    const [cmd, argv] = user ? ['runuser', ['-u', user, '--', binary, '-']] : [binary, ['-']];
    this.stopping = false;
    const child = spawn(cmd, argv, { stdio: ['pipe', out, out], cwd: '/' });
    this.child = child;
    child.stdin!.end(redisConfig(this.opts.port, this.opts.password));
    let up = false;
    child.once('exit', (code, signal) => {
      if (up && !this.stopping) this.onUnexpectedExit?.(signal ? `killed by ${signal}` : `exit code ${code}`);
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}; see ${this.opts.logFile}`);
      if (await redisPing(this.url).catch(() => false)) {
        up = true;
        return;
      }
      await sleep(200);
    }
    throw new Error(`redis-server did not answer on 127.0.0.1:${this.opts.port} within ${timeoutMs / 1000} s; see ${this.opts.logFile}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function redisConfig(port: number, password: string): string {
  return [
    'bind 127.0.0.1',
    `port ${port}`,
    `requirepass "${password}"`,
    'protected-mode yes',
    'save ""',
    'appendonly no',
    'dir /tmp',
    'daemonize no',
    'logfile ""',
    // Bull's keys must stay: never evict them under memory pressure
    'maxmemory-policy noeviction',
    '',
  ].join('\n');
}

export function redisUrl(host: string, port: number, password?: string): string {
  return `redis://${password ? `:${encodeURIComponent(password)}@` : ''}${host}:${port}`;
}

/** n8n's QUEUE_BULL_REDIS_* settings for a redis:// (or rediss://) URL. */
export function bullRedisEnv(url: string): Record<string, string> {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`DBM_REDIS_URL must be redis://[:password@]host:port[/db], not ${u.protocol}`);
  return {
    QUEUE_BULL_REDIS_HOST: u.hostname,
    QUEUE_BULL_REDIS_PORT: u.port || '6379',
    ...(u.username ? { QUEUE_BULL_REDIS_USERNAME: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { QUEUE_BULL_REDIS_PASSWORD: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { QUEUE_BULL_REDIS_DB: u.pathname.slice(1) } : {}),
    ...(u.protocol === 'rediss:' ? { QUEUE_BULL_REDIS_TLS: 'true' } : {}),
  };
}

/**
 * One command to a Redis server, answered as RESP's first line (`+PONG`,
 * `:12`, `-ERR …`), for health checks and queue depth: the stack needs no
 * Redis client library for that. Rejects when it cannot connect or answers
 * nothing within `timeoutMs`.
 */
export function redisCommand(url: string, args: string[], timeoutMs = 3000): Promise<string> {
  const u = new URL(url);
  const lines: string[][] = [];
  if (u.password) lines.push(u.username ? ['AUTH', decodeURIComponent(u.username), decodeURIComponent(u.password)] : ['AUTH', decodeURIComponent(u.password)]);
  if (u.pathname.length > 1) lines.push(['SELECT', u.pathname.slice(1)]);
  lines.push(args);
  const wire = lines.map((cmd) => `*${cmd.length}\r\n${cmd.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join('');
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    let buf = '';
    const timer = setTimeout(() => socket.destroy(new Error(`Redis at ${u.hostname}:${u.port} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(wire));
    socket.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const replies = buf.split('\r\n');
      if (replies.length <= lines.length) return; // not every reply's first line is in yet
      clearTimeout(timer);
      socket.end();
      const failed = replies.slice(0, lines.length - 1).find((r) => r.startsWith('-'));
      if (failed) reject(new Error(`Redis refused: ${failed.slice(1)}`));
      else resolve(replies[lines.length - 1]);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function redisPing(url: string): Promise<boolean> {
  return (await redisCommand(url, ['PING'])) === '+PONG';
}
