#!/usr/bin/env node
/**
 * `wal-archive --config <file> --cluster <name> <wal file>`: PostgreSQL's
 * archive_command (`%p`), synchronous: it exits 0 only once the segment is
 * stored in the repository. It loads nothing but the file system; the storing
 * is done by a resident archiver (`repo wal-archiver`) that it starts on first
 * use, so a segment costs no CLI start and no key derivation (see
 * engine/targets/postgresCluster/walArchiver.ts). Exit 1 with the reason
 * otherwise: PostgreSQL keeps the segment and tries again.
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { liveHelper, writeHelperPid } from '../engine/targets/postgresCluster/helperPid';
import { WAL_ARCHIVE_DIR } from '../engine/targets/postgresCluster/walArchiver';

function usage(): never {
  process.stderr.write('usage: wal-archive --config <file> --cluster <name> [--queue <dir>] <wal file>\n');
  process.exit(2);
}

function alive(queue: string): Promise<number | null> {
  return liveHelper(path.join(queue, 'archiver.pid'), queue);
}

async function startArchiver(queue: string, config: string, cluster: string): Promise<void> {
  const log = openSync(path.join(queue, 'archiver.log'), 'a', 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, 'main.js'), 'repo', '--config', config, 'wal-archiver', '--cluster', cluster, '--queue', queue], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  await writeHelperPid(path.join(queue, 'archiver.pid'), child.pid ?? 0); // at once: no second one meanwhile
}

/** Hands the segment over: a hard link (no copy) when on the same file system, a copy renamed into place otherwise. */
async function handOver(file: string, queue: string, name: string): Promise<void> {
  const target = path.join(queue, 'push', name);
  await fs.rm(target, { force: true });
  try {
    await fs.link(file, target);
  } catch {
    const partial = path.join(queue, 'push', `.${name}.partial`);
    await fs.copyFile(file, partial);
    await fs.rename(partial, target);
  }
}

async function main(): Promise<number> {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) flags[argv[i].slice(2)] = argv[++i] ?? usage();
    else rest.push(argv[i]);
  }
  if (!flags.config || !flags.cluster || rest.length !== 1) usage();
  const file = path.resolve(rest[0]);
  const name = path.basename(file);
  if (!/^[0-9A-F]{8}([0-9A-F]{16}(\.partial|\.[0-9A-F]{8}\.backup)?|\.history)$/.test(name)) {
    process.stderr.write(`wal-archive: ${JSON.stringify(name)} is not a WAL file name\n`);
    return 1;
  }
  const queue = path.resolve(flags.queue ?? WAL_ARCHIVE_DIR);
  await fs.mkdir(path.join(queue, 'push'), { recursive: true, mode: 0o700 });
  // a .done already there is the archiver's answer for this very segment, stored ahead (a name never changes content)
  await fs.rm(path.join(queue, `${name}.error`), { force: true });
  let starts = 0;
  await handOver(file, queue, name);
  for (;;) {
    // looked at before the answers: the archiver writes its answer first and only then lets go of the segment
    const handedOver = await fs.stat(path.join(queue, 'push', name)).then(() => true, () => false);
    const done = await fs.readFile(path.join(queue, `${name}.done`), 'utf8').catch(() => null);
    if (done !== null) {
      await fs.rm(path.join(queue, `${name}.done`), { force: true });
      await fs.rm(path.join(queue, 'push', name), { force: true }); // answered (perhaps stored ahead): nothing left to hand over
      return 0;
    }
    const error = await fs.readFile(path.join(queue, `${name}.error`), 'utf8').catch(() => null);
    if (error !== null) {
      await fs.rm(path.join(queue, `${name}.error`), { force: true });
      process.stderr.write(`wal-archive: storing ${name} failed: ${error}\n`);
      return 1;
    }
    if (!handedOver) {
      // let go of without an answer (writing it failed): hand it over again rather than wait for ever
      await handOver(file, queue, name);
    } else if (!(await alive(queue))) {
      if (starts === 3) {
        process.stderr.write(`wal-archive: the archiver stopped three times; see ${path.join(queue, 'archiver.log')}\n`);
        return 1;
      }
      starts++;
      await startArchiver(queue, flags.config, flags.cluster);
    }
    await sleep(5);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`wal-archive: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
