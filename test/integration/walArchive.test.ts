import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { runArchiver } from '../../engine/targets/postgresCluster/walArchiver';
import { localBackend, newRepository, tempDir } from '../support/backends';
import { CLI } from '../support/cli';

const SEGMENT = '000000010000000000000007';

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(50);
  if (!check()) throw new Error(`${what} did not happen within 10 s`);
}

describe('wal-archive (the synchronous archive_command) against its archiver', () => {
  const stop: (() => void)[] = [];
  afterEach(() => stop.splice(0).forEach((f) => f()));

  it('hands a segment over again when the archiver lets go of it without an answer, instead of waiting for ever', async () => {
    const dataDir = tempDir('dbm-walarchive-');
    const queue = path.join(dataDir, 'dbm_wal_archive');
    mkdirSync(path.join(queue, 'push'), { recursive: true });
    mkdirSync(path.join(dataDir, 'pg_wal'));
    writeFileSync(path.join(dataDir, 'pg_wal', SEGMENT), Buffer.alloc(64 * 1024, 3));
    // an archiver of this queue that never answers: wal-archive takes it for alive (its command line names the queue)
    const archiver = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300000)', queue], { stdio: 'ignore' });
    stop.push(() => archiver.kill('SIGKILL'));
    writeFileSync(path.join(queue, 'archiver.pid'), String(archiver.pid));

    const command = spawn(process.execPath, [path.join(path.dirname(CLI), 'wal-archive.js'), '--config', '/nonexistent.json', '--cluster', 'c', `pg_wal/${SEGMENT}`], { cwd: dataDir, stdio: 'ignore' });
    stop.push(() => command.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => command.on('exit', resolve));
    const handed = path.join(queue, 'push', SEGMENT);
    await until(() => existsSync(handed), 'the hand-over');
    rmSync(handed); // what an archiver does when writing its answer failed: it lets go of the segment anyway
    await until(() => existsSync(handed), 'a second hand-over');
    writeFileSync(path.join(queue, `${SEGMENT}.done`), 'stored'); // this time the answer comes
    expect(await exited).toBe(0);
    expect(existsSync(handed)).toBe(false);
    expect(existsSync(path.join(queue, `${SEGMENT}.done`))).toBe(false);
  }, 30_000);
});

describe('the resident archiver', () => {
  /** An archiver of a new queue, once it has started. */
  async function started(): Promise<{ dataDir: string; queue: string; log: string[]; running: Promise<void> }> {
    const { repo } = await newRepository(localBackend);
    const dataDir = tempDir('dbm-walarchiver-');
    const queue = path.join(dataDir, 'dbm_wal_archive');
    const log: string[] = [];
    const running = runArchiver(repo, 'c', { queue, log: (line) => log.push(line) });
    await until(() => existsSync(path.join(queue, 'archiver.pid')), 'the start');
    return { dataDir, queue, log, running };
  }

  it('stops when its data directory is gone, instead of polling it for ten idle minutes', async () => {
    const { dataDir, log, running } = await started();
    rmSync(dataDir, { recursive: true, force: true });
    await running; // the test's timeout is the bound
    expect(log).toContain('the data directory is gone: stopping');
  }, 30_000);

  it('stops when another archiver took over its queue, leaving that one its pid file', async () => {
    const { queue, log, running } = await started();
    const pidFile = path.join(queue, 'archiver.pid');
    expect(readFileSync(pidFile, 'utf8')).toBe(String(process.pid));
    writeFileSync(pidFile, String(process.pid + 1)); // what a second archiver started for the queue writes
    await running; // the test's timeout is the bound
    expect(log).toContain('another archiver took over this queue: stopping');
    expect(readFileSync(pidFile, 'utf8')).toBe(String(process.pid + 1));
  }, 30_000);
});
