import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * A PostgreSQL cluster of our own in a directory: initdb on first use, then
 * pg_ctl start/stop. Used by the stack launcher (the embedded catalog) and by
 * the tests. initdb refuses to run as root, so as root the server runs as the
 * `postgres` system user, on a directory that user owns.
 */
export interface ClusterOptions {
  dataDir: string;
  port: number;
  /** password of the `postgres` superuser, for TCP connections */
  password: string;
  /** where the binaries are; default: the newest /usr/lib/postgresql/N/bin */
  binDir?: string;
  /** trade durability for speed (fsync and full page writes off): for test clusters only, never the catalog */
  unsafeFast?: boolean;
  /** WAL segment size in MiB (initdb --wal-segsize; default 16): benchmarks use small ones to replay many */
  walSegmentMiB?: number;
}

export function findPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)');
  return path.join(root, versions[0], 'bin');
}

export class PostgresCluster {
  readonly binDir: string;
  private readonly asPostgres = process.getuid?.() === 0;

  constructor(readonly opts: ClusterOptions) {
    this.binDir = opts.binDir ?? findPostgresBinDir();
  }

  get socketDir(): string {
    return path.join(this.opts.dataDir, 'socket');
  }

  /** A URL for TCP connections as the superuser. */
  get url(): string {
    return `postgresql://postgres:${encodeURIComponent(this.opts.password)}@127.0.0.1:${this.opts.port}/postgres`;
  }

  private run(tool: string, args: string[]): void {
    const bin = path.join(this.binDir, tool);
    const [cmd, argv] = this.asPostgres ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    const res = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (res.status !== 0) throw new Error(`${tool} failed (${res.status}): ${res.stderr.trim() || res.stdout.trim()}`);
  }

  private own(dir: string): void {
    if (!this.asPostgres) return;
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }

  initialized(): boolean {
    return existsSync(path.join(this.opts.dataDir, 'PG_VERSION'));
  }

  init(): void {
    mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    if (this.asPostgres) {
      // The server runs as `postgres`; every folder above its data must let that user through.
      const parent = path.dirname(path.resolve(this.opts.dataDir));
      if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', parent]).status !== 0) {
        throw new Error(
          `PostgreSQL runs as the postgres user when started by root, and that user cannot reach ${parent}: ` +
            'make the folders above it traversable (chmod o+x) or set DBM_DATA_DIR elsewhere, e.g. /srv/data-backup-manager',
        );
      }
    }
    this.own(this.opts.dataDir);
    const pwfile = path.join(this.opts.dataDir, '..', `.pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, `${this.opts.password}\n`, { mode: 0o600 });
    this.own(pwfile);
    try {
      this.run('initdb', [
        '-D', this.opts.dataDir, '-U', 'postgres', `--pwfile=${pwfile}`,
        '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8',
        ...(this.opts.walSegmentMiB ? [`--wal-segsize=${this.opts.walSegmentMiB}`] : []),
      ]);
    } finally {
      spawnSync('rm', ['-f', pwfile]);
    }
    mkdirSync(this.socketDir, { recursive: true });
    this.own(this.socketDir);
  }

  start(extraConf: string[] = []): void {
    if (!this.initialized()) this.init();
    const conf = [
      `-p ${this.opts.port}`, "-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${this.socketDir}`,
      // the catalog holds tokens, the audit log and job history: a power cut must not lose them
      ...(this.opts.unsafeFast ? ['-c fsync=off', '-c full_page_writes=off', '-c synchronous_commit=off'] : []),
      ...extraConf,
    ].join(' ');
    this.run('pg_ctl', ['-D', this.opts.dataDir, '-o', conf, '-l', path.join(this.opts.dataDir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  /** Whether the server is up: its postmaster.pid names a living process (no child process spawned: this is polled). */
  isRunning(): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(path.join(this.opts.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return false;
    }
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
    }
  }

  stop(): void {
    if (!this.initialized()) return;
    try {
      this.run('pg_ctl', ['-D', this.opts.dataDir, '-m', 'fast', '-w', 'stop']);
    } catch {
      // not running
    }
  }
}

/** Runs psql as the superuser over the socket (for set-up scripts). */
export function psqlAsync(cluster: PostgresCluster, database: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(cluster.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-f', '-'], {
      env: { ...process.env, PGHOST: cluster.socketDir, PGPORT: String(cluster.opts.port), PGUSER: 'postgres', PGDATABASE: database },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`psql: ${err.trim()}`))));
    child.stdin.end(sql);
  });
}
