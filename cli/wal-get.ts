#!/usr/bin/env node
/**
 * `wal-get --config <file> --cluster <name> <wal file name> <destination>`:
 * PostgreSQL's restore_command (`%f %p`). It loads nothing but the file system:
 * the WAL comes from a prefetcher (`repo wal-prefetch`) that it starts on first
 * use, which opens the repository once and keeps the next segments fetched into
 * a queue in the data directory. Exit 0: the file is in place; 1: the archive
 * does not have it (PostgreSQL then ends or switches timeline, as it should);
 * 255: fetching failed, and recovery stops rather than end early on a file
 * that does exist.
 *
 * `wal-get --config <file> --cluster <name> --start-prefetcher` (in the data directory) only starts the
 * prefetcher: `repo restore --postgres-cluster --start` does so before starting PostgreSQL, so the
 * repository is open and the first segments are fetched by the time replay asks for them.
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHelperPid } from '../engine/targets/postgresCluster/helperPid';
import { noteTaken, prefetcherAlive, requestFromQueue, takeFromQueue, WAL_QUEUE_DIR } from '../engine/targets/postgresCluster/walQueue';

const ABORT_RECOVERY = 255; // > 125: PostgreSQL treats it as a failure of the command, not as a missing file

function usage(): never {
  process.stderr.write('usage: wal-get --config <file> --cluster <name> [--queue <dir>] <wal file name> <destination>\n');
  process.exit(2);
}

function parse(argv: string[]): { config: string; cluster: string; queue: string; name: string; dest: string; startOnly: boolean } {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  let startOnly = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--start-prefetcher') startOnly = true;
    else if (argv[i].startsWith('--')) flags[argv[i].slice(2)] = argv[++i] ?? usage();
    else rest.push(argv[i]);
  }
  if (!flags.config || !flags.cluster || rest.length !== (startOnly ? 0 : 2)) usage();
  // PostgreSQL runs restore_command in the data directory: the queue is the cluster's own
  return { config: flags.config, cluster: flags.cluster, queue: path.resolve(flags.queue ?? WAL_QUEUE_DIR), name: rest[0] ?? '', dest: path.resolve(rest[1] ?? '.'), startOnly };
}

async function startPrefetcher(a: ReturnType<typeof parse>): Promise<void> {
  const log = openSync(path.join(a.queue, 'prefetcher.log'), 'a', 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, 'main.js'), 'repo', '--config', a.config, 'wal-prefetch', '--cluster', a.cluster, '--queue', a.queue], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  // its pid now, so that the next restore_command does not start a second one while this one opens the repository
  await writeHelperPid(path.join(a.queue, 'prefetcher.pid'), child.pid ?? 0);
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  for (let attempt = 1; ; attempt++) {
    try {
      return await get(a);
    } catch (err) {
      // a prefetcher that stopped as this one started removes the queue under it: once more, with a new one
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw err;
    }
  }
}

async function get(a: ReturnType<typeof parse>): Promise<number> {
  if (a.startOnly) {
    await fs.mkdir(a.queue, { recursive: true, mode: 0o700 });
    if (!(await prefetcherAlive(a.queue))) await startPrefetcher(a);
    return 0;
  }
  if (!/^[0-9A-F]{8}([0-9A-F]{16}(\.partial|\.[0-9A-F]{8}\.backup)?|\.history)$/.test(a.name)) {
    process.stderr.write(`wal-get: ${JSON.stringify(a.name)} is not a WAL file name\n`);
    return ABORT_RECOVERY;
  }
  await fs.mkdir(a.queue, { recursive: true, mode: 0o700 });
  if ((await takeFromQueue(a.queue, a.name, a.dest)).kind === 'ready') {
    await noteTaken(a.queue, a.name);
    return 0;
  }
  await requestFromQueue(a.queue, a.name);
  let starts = 0;
  for (;;) {
    const answer = await takeFromQueue(a.queue, a.name, a.dest);
    if (answer.kind === 'ready') return 0;
    if (answer.kind === 'missing') return 1;
    if (answer.kind === 'error') {
      process.stderr.write(`wal-get: fetching ${a.name} failed: ${answer.message}\n`);
      return ABORT_RECOVERY;
    }
    if (!(await prefetcherAlive(a.queue))) {
      if (starts === 3) {
        process.stderr.write(`wal-get: the WAL prefetcher stopped three times; see ${path.join(a.queue, 'prefetcher.log')}\n`);
        return ABORT_RECOVERY;
      }
      starts++;
      await startPrefetcher(a);
      await requestFromQueue(a.queue, a.name); // a prefetcher that died may have taken the request with it
    }
    await sleep(10);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`wal-get: ${(err as Error).message}\n`);
    process.exit(ABORT_RECOVERY);
  },
);
