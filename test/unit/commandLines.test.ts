import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveCommandLine, restoreCommandLine } from '../../engine/targets/postgresCluster/commandLines';

/** The program behind the shell's fast path: records that it ran, with its arguments, and answers 3. */
const PROGRAM = ['sh', '-c', 'echo "$@" > ran; exit 3', 'program'];
const SEGMENT = '000000010000000000000007';
let dataDir: string;

/** As PostgreSQL runs the command: %f and %p substituted, through sh, in the data directory. */
function run(line: string): number | null {
  const command = line.replaceAll('%f', SEGMENT).replaceAll('%p', `pg_wal/${SEGMENT}`);
  return spawnSync('sh', ['-c', command], { cwd: dataDir }).status;
}

beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'dbm-commandlines-'));
  mkdirSync(path.join(dataDir, 'pg_wal'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe("PostgreSQL's command lines", () => {
  it('archive_command: a segment stored ahead is answered by its .done alone; otherwise wal-archive runs, with the config and cluster quoted', () => {
    const line = archiveCommandLine(PROGRAM, "/etc/dbm/it's.json", 'main; rm -rf /');
    mkdirSync(path.join(dataDir, 'dbm_wal_archive'));
    writeFileSync(path.join(dataDir, 'dbm_wal_archive', `${SEGMENT}.done`), 'stored');
    expect(run(line)).toBe(0);
    expect(existsSync(path.join(dataDir, 'dbm_wal_archive', `${SEGMENT}.done`))).toBe(false);
    expect(existsSync(path.join(dataDir, 'ran'))).toBe(false);
    // asked again (PostgreSQL retries after a crash): no answer waiting, so the program decides
    expect(run(line)).toBe(3);
    expect(readFileSync(path.join(dataDir, 'ran'), 'utf8').trim()).toBe(`--config /etc/dbm/it's.json --cluster main; rm -rf / pg_wal/${SEGMENT}`);
  });

  it('archive_command: without the archiver\'s folder the program runs', () => {
    expect(run(archiveCommandLine(PROGRAM, '/c.json', 'main'))).toBe(3);
    expect(existsSync(path.join(dataDir, 'ran'))).toBe(true);
  });

  it('archive_command: while the archiver runs, the shell waits for the segment it is storing', async () => {
    const queue = path.join(dataDir, 'dbm_wal_archive');
    mkdirSync(queue);
    writeFileSync(path.join(queue, 'archiver.pid'), '1');
    const command = archiveCommandLine(PROGRAM, '/c.json', 'main').replaceAll('%f', SEGMENT).replaceAll('%p', `pg_wal/${SEGMENT}`);
    const child = spawn('sh', ['-c', command], { cwd: dataDir });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await sleep(300);
    writeFileSync(path.join(queue, `${SEGMENT}.done`), 'stored'); // the archiver's answer
    expect(await exited).toBe(0);
    expect(existsSync(path.join(queue, `${SEGMENT}.done`))).toBe(false);
    expect(existsSync(path.join(dataDir, 'ran'))).toBe(false);
  });

  it('archive_command: an archiver that never answers is left after 5 s to the program, which knows why', () => {
    mkdirSync(path.join(dataDir, 'dbm_wal_archive'));
    writeFileSync(path.join(dataDir, 'dbm_wal_archive', 'archiver.pid'), '1');
    const t0 = Date.now();
    expect(run(archiveCommandLine(PROGRAM, '/c.json', 'main'))).toBe(3);
    expect(Date.now() - t0).toBeGreaterThan(4000); // it did wait (no upper bound: the machine may be slow)
    expect(existsSync(path.join(dataDir, 'ran'))).toBe(true);
  }, 30_000);

  it('restore_command: a prefetched segment is moved into place, a known-missing one is exit 1, anything else goes to wal-get', () => {
    const line = restoreCommandLine(PROGRAM, '/c.json', 'main');
    const queue = path.join(dataDir, 'dbm_wal_queue');
    mkdirSync(path.join(queue, 'took'), { recursive: true });
    writeFileSync(path.join(queue, SEGMENT), 'wal bytes');
    expect(run(line)).toBe(0);
    expect(readFileSync(path.join(dataDir, 'pg_wal', SEGMENT), 'utf8')).toBe('wal bytes');
    expect(existsSync(path.join(queue, 'took', SEGMENT))).toBe(true);
    writeFileSync(path.join(queue, `${SEGMENT}.missing`), '');
    expect(run(line)).toBe(1);
    expect(existsSync(path.join(queue, `${SEGMENT}.missing`))).toBe(false);
    expect(existsSync(path.join(dataDir, 'ran'))).toBe(false);
    expect(run(line)).toBe(3);
    expect(readFileSync(path.join(dataDir, 'ran'), 'utf8').trim()).toBe(`--config /c.json --cluster main ${SEGMENT} pg_wal/${SEGMENT}`);
  });
});
