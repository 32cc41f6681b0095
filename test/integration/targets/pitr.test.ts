import { chmodSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage, openStorage, Repository } from '../../../engine';
import { backupCluster, listWal, stopCluster } from '../../../engine/targets';
import type { PostgresCluster } from '../../../stack/postgresCluster';
import { tempDir } from '../../support/backends';
import { CLI, type CliResult } from '../../support/cli';
import { freePort } from '../../support/ports';
import { archivingCluster, AS_ROOT, cliAsPostgres, spawnAsPostgres, labelsAt, markMoment, sql, SOURCE_PASSWORD, waitArchived } from '../../support/pitr';

/**
 * Point-in-time recovery with real clusters: a source archiving its WAL into
 * the repository through `repo wal-push` (run by PostgreSQL itself), a base
 * backup, marked rows at three moments, and restores to moments between them.
 * As root, every command runs as the postgres user, as it would in production.
 */
describe('PostgreSQL point-in-time recovery', () => {
  const base = tempDir('dbm-pitr-');
  chmodSync(base, 0o755);
  const repoDir = path.join(base, 'repo');
  const config = path.join(base, 'dbm.json');
  const passphrase = 'pitr passphrase';
  let source: PostgresCluster;
  let sourceUrl: string;
  const started: string[] = [];
  const moments: Record<string, Date> = {};
  let t2xid = '';
  let clusterSize = '';

  const cli = (args: string[], timeoutMs = 120_000): Promise<CliResult> => cliAsPostgres(['repo', '--config', config, ...args], base, timeoutMs);
  const query = sql;
  const mark = async (label: string): Promise<void> => {
    moments[label] = await markMoment(sourceUrl, label);
  };
  const restoreTo = async (name: string, target: string[]): Promise<{ result: CliResult; url: string; dir: string }> => {
    const dir = path.join(base, name);
    const port = await freePort();
    const result = await cli(['restore', '--postgres-cluster', 'src', ...target, '--to', dir, '--start', '--port', String(port)], 300_000);
    if (result.code === 0) started.push(dir);
    return { result, dir, url: `postgresql://postgres@127.0.0.1:${port}/postgres?host=${encodeURIComponent(dir)}` };
  };
  const labels = labelsAt;
  const eventually = async (check: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
    const t0 = Date.now();
    while (!(await check())) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`not so within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  };

  beforeAll(async () => {
    await fs.mkdir(repoDir);
    await fs.writeFile(config, JSON.stringify({ repository: repoDir, passphrase }), { mode: 0o600 });
    if (AS_ROOT) {
      const { spawnSync } = await import('node:child_process');
      spawnSync('chown', ['-R', 'postgres:', base]); // the restores, the spool and the archive are PostgreSQL's user's
    }
    expect((await cli(['init'])).code).toBe(0);

    ({ pg: source, url: sourceUrl } = await archivingCluster(path.join(base, 'source'), config, 'src'));
    // ~300 MB, so that the restores below are an RTO drill of a cluster of some size
    await query(sourceUrl, "CREATE TABLE ballast AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS body FROM generate_series(1, 2200000) g");
    [{ size: clusterSize }] = await query<{ size: string }>(sourceUrl, 'SELECT pg_size_pretty(sum(pg_database_size(oid))) AS size FROM pg_database');

    const backup = await cli(['backup', '--postgres-cluster', `postgresql://postgres@127.0.0.1:${source.opts.port}`, '--cluster', 'src', '--json'], 300_000);
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ target: 'postgres-cluster', tags: { cluster: 'src' } });
    await sleep(1100);
    await mark('t1');
    await query(sourceUrl, "SELECT pg_create_restore_point('after-t1')"); // archived with t2's segment
    await mark('t2');
    [{ xid: t2xid }] = await query<{ xid: string }>(sourceUrl, "SELECT xmin::text AS xid FROM marks WHERE label = 't2'");
    await mark('t3');
  }, 600_000);

  afterAll(() => {
    for (const dir of started) stopCluster(dir, AS_ROOT ? 'postgres' : undefined);
    source?.stop();
  });

  it('restores everything archived (latest), as a promoted primary', async () => {
    const t0 = Date.now();
    const { result, url, dir } = await restoreTo('latest', ['--latest']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/recovered and promoted in [\d.]+ s: a primary on timeline 2/);
    console.log(`RTO drill: restoring the ${clusterSize} cluster (base backup + WAL + promote, restore --latest --start) took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(await labels(url)).toEqual(['t1', 't2', 't3']);
    const [{ r }] = await query<{ r: boolean }>(url, 'SELECT pg_is_in_recovery() AS r');
    expect(r).toBe(false);
    // the restore_command's prefetcher served the WAL, and went with its queue after the promotion
    const recoveryLog = await fs.readFile(path.join(dir, 'recovery.log'), 'utf8');
    expect(recoveryLog).toMatch(/restored log file "0000000100000000000000[0-9A-F]{2}" from archive/);
    expect(recoveryLog).not.toMatch(/wal-get:/);
    await eventually(async () => !(await fs.stat(path.join(dir, 'dbm_wal_queue')).then(() => true, () => false)), 30_000);
  }, 300_000);

  it('survives a prefetcher killed mid-replay: the restore_command starts another, and the restore is whole', async () => {
    const dir = path.join(base, 'killed');
    const port = await freePort();
    const restoring = cli(['restore', '--postgres-cluster', 'src', '--latest', '--to', dir, '--start', '--port', String(port)], 300_000);
    const pidFile = path.join(dir, 'dbm_wal_queue', 'prefetcher.pid');
    let killed = 0;
    await eventually(async () => {
      const log = await fs.readFile(path.join(dir, 'recovery.log'), 'utf8').catch(() => '');
      const pid = Number(await fs.readFile(pidFile, 'utf8').catch(() => '0'));
      if (!log.includes('restored log file') || !pid) return false; // mid-replay: a segment served, more to come
      process.kill(pid, 'SIGKILL');
      killed = pid;
      return true;
    }, 120_000);
    const result = await restoring;
    expect(result.code, result.stderr).toBe(0);
    started.push(dir);
    expect(killed).toBeGreaterThan(0);
    expect(await labels(`postgresql://postgres@127.0.0.1:${port}/postgres?host=${encodeURIComponent(dir)}`)).toEqual(['t1', 't2', 't3']);
  }, 300_000);

  it('restores to a moment between T2 and T3: the rows of T1 and T2, not T3; and archiving goes on on the new timeline', async () => {
    const between = new Date((moments.t2.getTime() + moments.t3.getTime()) / 2);
    const { result, url } = await restoreTo('between', ['--target-time', between.toISOString()]);
    expect(result.code, result.stderr).toBe(0);
    expect(await labels(url)).toEqual(['t1', 't2']);
    const [{ tli }] = await query<{ tli: number }>(url, 'SELECT timeline_id AS tli FROM pg_control_checkpoint()');
    expect(tli).toBeGreaterThan(1);
    // the promoted cluster archives too, on its new timeline, into the same archive
    await query(url, `INSERT INTO marks (label) VALUES ('after')`);
    const [{ seg }] = await query<{ seg: string }>(url, 'SELECT pg_walfile_name(pg_switch_wal()) AS seg');
    await waitArchived(url, seg);
    const repo = await Repository.open(openStorage(repoDir), { passphrase });
    const files = await listWal(repo, 'src');
    expect(files).toContain(seg);
    expect(files).toContain(`${tli.toString(16).toUpperCase().padStart(8, '0')}.history`);
  }, 300_000);

  it('follows a timeline switch during prefetch: the latest timeline (the branch restored above) replaces what was fetched ahead on timeline 1', async () => {
    const { result, url, dir } = await restoreTo('branch', ['--latest', '--target-timeline', 'latest']);
    expect(result.code, result.stderr).toBe(0);
    expect(await labels(url)).toEqual(['t1', 't2', 'after']); // the branch's row, not t3 (timeline 1 after the branch point)
    const recoveryLog = await fs.readFile(path.join(dir, 'recovery.log'), 'utf8');
    expect(recoveryLog).toMatch(/restored log file "0000000[2-9A-F][0-9A-F]{16}" from archive/); // a segment of a later timeline
    expect(recoveryLog).not.toMatch(/wal-get:/);
  }, 300_000);

  it('refuses a moment before the first base backup ended', async () => {
    const { result } = await restoreTo('too-early', ['--target-time', '2001-01-01T00:00:00Z']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no base backup of cluster src ended before 2001-01-01T00:00:00.000Z; the earliest restorable moment is /);
  });

  it("restores to the window's latest moment (its last archived commit), and a moment past it to the end of the archive, saying so", async () => {
    const window = JSON.parse((await cli(['pitr-window', '--cluster', 'src', '--json'])).stdout) as { latest: string; latestKind: string };
    expect(window.latestKind).toBe('last commit');
    expect(Date.parse(window.latest)).toBeGreaterThan(moments.t2.getTime());
    expect(Date.parse(window.latest)).toBeLessThanOrEqual(moments.t3.getTime()); // t3's commit, just before we noted the time
    for (const [name, at] of [['window-latest', window.latest], ['past-latest', new Date(Date.parse(window.latest) + 60_000).toISOString()]]) {
      const { result, url } = await restoreTo(name, ['--target-time', at]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/at or after the last archived commit, .*: everything archived/);
      expect(await labels(url)).toEqual(['t1', 't2', 't3']);
    }
  }, 300_000);

  it('restores to a named restore point and to a transaction, and refuses ones the archive does not hold', async () => {
    const named = await restoreTo('restore-point', ['--target-name', 'after-t1']);
    expect(named.result.code, named.result.stderr).toBe(0);
    expect(await labels(named.url)).toEqual(['t1']);
    const xid = await restoreTo('xid', ['--target-xid', t2xid]);
    expect(xid.result.code, xid.result.stderr).toBe(0);
    expect(await labels(xid.url)).toEqual(['t1', 't2']);
    const unknown = await restoreTo('no-such-point', ['--target-name', 'never-made']);
    expect(unknown.result.code).toBe(2);
    expect(unknown.result.stderr).toMatch(/no restore point "never-made" in the archived WAL of cluster src/);
    const noXid = await restoreTo('no-such-xid', ['--target-xid', '999999999']);
    expect(noXid.result.code).toBe(2);
    expect(noXid.result.stderr).toMatch(/transaction 999999999 did not commit in the archived WAL of cluster src/);
  }, 300_000);

  it('takes a re-push of an identical segment, and refuses a different one', async () => {
    const seg = path.join(base, 'spare', '0000000100000000000000A0');
    await fs.mkdir(path.dirname(seg), { recursive: true });
    await fs.writeFile(seg, Buffer.alloc(16 * 1024 * 1024, 7));
    if (AS_ROOT) await fs.chmod(path.dirname(seg), 0o777).then(() => fs.chmod(seg, 0o666));
    expect((await cli(['wal-push', '--cluster', 'spare', seg])).code).toBe(0);
    const again = await cli(['wal-push', '--cluster', 'spare', seg]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already archived with the same content');
    const handle = await fs.open(seg, 'r+');
    await handle.write(Buffer.from([8]), 0, 1, 1234);
    await handle.close();
    const different = await cli(['wal-push', '--cluster', 'spare', seg]);
    expect(different.code).toBe(1);
    expect(different.stderr).toMatch(/already archived for cluster spare with different content: refusing to overwrite/);
    // and it fetches back byte for byte what was first pushed
    const back = path.join(path.dirname(seg), 'fetched');
    expect((await cli(['wal-fetch', '--cluster', 'spare', '0000000100000000000000A0', back])).code).toBe(0);
    expect(Buffer.compare(await fs.readFile(back), Buffer.alloc(16 * 1024 * 1024, 7))).toBe(0);
    expect((await cli(['wal-fetch', '--cluster', 'spare', '0000000100000000000000A1', back])).code).toBe(1);
  });

  it('archives synchronously through the resident archiver: killed, it is replaced, and what PostgreSQL counts as archived is in the repository', async () => {
    const queue = path.join(source.opts.dataDir, 'dbm_wal_archive');
    const pid = Number(await fs.readFile(path.join(queue, 'archiver.pid'), 'utf8'));
    expect(pid).toBeGreaterThan(0); // the first archive_command started it; every segment so far went through it
    process.kill(pid, 'SIGKILL');
    await query(sourceUrl, "INSERT INTO marks (label) VALUES ('archiver-test'); DELETE FROM marks WHERE label = 'archiver-test'");
    const [{ seg }] = await query<{ seg: string }>(sourceUrl, 'SELECT pg_walfile_name(pg_switch_wal()) AS seg');
    await waitArchived(sourceUrl, seg);
    const [{ last, failed }] = await query<{ last: string; failed: string }>(sourceUrl, 'SELECT last_archived_wal AS last, failed_count::text AS failed FROM pg_stat_archiver');
    expect(failed).toBe('0'); // the next archive_command started another archiver; PostgreSQL saw no failure
    const repo = await Repository.open(openStorage(repoDir), { passphrase });
    expect(await listWal(repo, 'src')).toContain(last);
    const again = Number(await fs.readFile(path.join(queue, 'archiver.pid'), 'utf8'));
    expect(again).not.toBe(pid);
  }, 300_000);

  it('archives asynchronously through a spool drained by wal-uploader', async () => {
    const spool = path.join(base, 'spool');
    const seg = path.join(base, 'spare', '0000000100000000000000B0');
    await fs.writeFile(seg, Buffer.alloc(16 * 1024 * 1024, 9));
    if (AS_ROOT) await fs.chmod(seg, 0o666);
    // archive_command's light entry point (nothing but the file system), as `wal-commands --spool` prints it
    const spooled = await spawnAsPostgres([process.execPath, path.join(path.dirname(CLI), 'wal-spool.js'), spool, seg]);
    expect(spooled.code, spooled.stderr).toBe(0);
    expect(await fs.readdir(spool)).toEqual(['0000000100000000000000B0']);
    expect((await cli(['wal-push', '--cluster', 'spare', '--spool', spool, seg])).code).toBe(0); // queued already: fine
    const drained = await cli(['wal-uploader', '--cluster', 'spare', '--spool', spool, '--once']);
    expect(drained.code, drained.stderr).toBe(0);
    expect((await fs.readdir(spool)).filter((n) => n !== 'status.json')).toEqual([]);
    const repo = await Repository.open(openStorage(repoDir), { passphrase });
    expect(await listWal(repo, 'spare')).toContain('0000000100000000000000B0');
    // a spool that has fallen behind refuses loudly, so PostgreSQL keeps its WAL and retries
    const late = await cli(['wal-push', '--cluster', 'spare', '--spool', spool, '--spool-max', '0', path.join(base, 'spare', '0000000100000000000000A0')]);
    expect(late.code).toBe(0); // an empty spool is not behind
    const behind = await cli(['wal-push', '--cluster', 'spare', '--spool', spool, '--spool-max', '0', seg]);
    expect(behind.code).toBe(1);
    expect(behind.stderr).toMatch(/WAL archiving is behind: the spool .* holds 1 files/);
  });

  it('reports a missing WAL segment as a gap, and refuses to restore past it', async () => {
    const repo = await Repository.open(openStorage(repoDir), { passphrase });
    const before = JSON.parse((await cli(['pitr-window', '--cluster', 'src', '--json'])).stdout) as { gaps: unknown[]; earliest: string; latest: string };
    expect(before.gaps).toEqual([]);
    expect(Date.parse(before.latest)).toBeGreaterThan(moments.t2.getTime()); // t3's commit
    // lose the segment holding T2's row
    const t1Segment = (await listWal(repo, 'src')).filter((n) => /^00000001[0-9A-F]{16}$/.test(n));
    const victim = t1Segment[t1Segment.length - 3];
    await repo.storage.delete(`wal/src/${victim}`);
    const window = await cli(['pitr-window', '--cluster', 'src']);
    expect(window.code).toBe(1);
    expect(window.stdout).toMatch(new RegExp(`GAP: 1 WAL segment\\(s\\) missing, ${victim} … ${victim}`));
    const latest = await restoreTo('past-gap', ['--latest']);
    expect(latest.result.code).toBe(2);
    expect(latest.result.stderr).toMatch(new RegExp(`WAL segments ${victim} … ${victim} \\(1\\) are missing from the archive of cluster src`));
    const late = await restoreTo('past-gap-time', ['--target-time', new Date(moments.t3.getTime() + 500).toISOString()]);
    expect(late.result.code).toBe(2);
    expect(late.result.stderr).toMatch(/is restorable up to .* \(WAL is missing from /);
  });

  it('deduplicates base backups by page: after scattered updates, a fraction of what content-defined chunks store', async () => {
    const conn = { host: '127.0.0.1', port: source.opts.port, user: 'postgres', password: SOURCE_PASSWORD };
    const added: Record<string, number> = {};
    const repos = { pages: await Repository.init(new LocalStorage(path.join(base, 'repo-pages')), { passphrase }), cdc: await Repository.init(new LocalStorage(path.join(base, 'repo-cdc')), { passphrase }) };
    const first = await backupCluster(repos.pages, conn, { cluster: 'pages' });
    expect(first.snapshot.meta?.pageBlockSize).toBe(8192); // a ~300 MB cluster: single pages
    await backupCluster(repos.cdc, conn, { cluster: 'pages', pageBlockSize: 0 });
    // one row on about every 70th page of the ~300 MB table: every ~1 MiB content-defined chunk holds a changed page
    await query(sourceUrl, 'UPDATE ballast SET body = upper(body) WHERE id % 4000 = 0');
    await query(sourceUrl, 'CHECKPOINT');
    for (const [name, repo] of Object.entries(repos)) {
      const again = await backupCluster(repo, conn, { cluster: 'pages', ...(name === 'cdc' ? { pageBlockSize: 0 } : {}) });
      expect(again.snapshot.meta?.pageBlockSize).toBe(name === 'pages' ? 8192 : 0);
      added[name] = again.snapshot.stats.bytesAdded;
    }
    expect(added.cdc).toBeGreaterThan(200 * 2 ** 20);
    expect(added.pages).toBeLessThan(added.cdc / 4);
  }, 300_000);

  it('keeps what the window needs: a newer base backup replaces the older one and the WAL before it (the gap goes too)', async () => {
    const backup = await cli(['backup', '--postgres-cluster', `postgresql://postgres@127.0.0.1:${source.opts.port}`, '--cluster', 'src', '--json'], 300_000);
    expect(backup.code, backup.stderr).toBe(0);
    await mark('t4');
    const dry = JSON.parse((await cli(['pitr-retention', '--cluster', 'src', '--window', '1s', '--dry-run', '--json'])).stdout) as { kept: string[]; forgotten: string[]; walDeleted: number };
    expect(dry.kept).toEqual([JSON.parse(backup.stdout).id]);
    expect(dry.forgotten).toHaveLength(1);
    expect(dry.walDeleted).toBeGreaterThan(0);
    const applied = await cli(['pitr-retention', '--cluster', 'src', '--window', '1s']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/kept 1 base backups, forgot 1\ndeleted \d+ WAL files/);
    expect(applied.stdout).toMatch(/pruned: \d+ packs deleted/);
    const window = JSON.parse((await cli(['pitr-window', '--cluster', 'src', '--json'])).stdout) as { baseBackups: unknown[]; gaps: unknown[] };
    expect(window.baseBackups).toHaveLength(1);
    expect(window.gaps).toEqual([]);
    expect((await cli(['check'])).code).toBe(0);
    const { result, url } = await restoreTo('after-retention', ['--latest']);
    expect(result.code, result.stderr).toBe(0);
    expect(await labels(url)).toEqual(['t1', 't2', 't3', 't4']);
  }, 300_000);
});
