import { promises as fs, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { checkRepository, listSnapshots, prune } from '../../engine';
import { DATA_PREFIX, LOCKS_PREFIX } from '../../engine/repository/layout';
import { DEAD_SPOOL_MIN_AGE_MS } from '../../engine/storage/spool';
import { listAll } from '../../engine/storage/storage';
import { backends, newRepository, PASSPHRASE, reopen } from '../support/backends';
import { finish, runCli, startCli } from '../support/cli';
import { seededBytes } from '../support/trees';

describe.each(backends)('a backup killed midway on $name storage', (backend) => {
  it('leaves a repository that checks clean; the next backup succeeds; prune removes the leftovers', async () => {
    const { loc } = await newRepository(backend);
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };

    // Feed 56 MiB of incompressible data and keep stdin open: the child has
    // written at least two 16 MiB packs and is waiting for more when it dies.
    const child = startCli(['repo', 'backup', '--stdin', '--name', 'dump.sql'], { ...env, TMPDIR: tmpdir() });
    const done = finish(child, null);
    child.stdin!.write(seededBytes('crash', 56 * 1024 * 1024));
    let packs = 0;
    for (let i = 0; i < 600 && packs < 2; i++) {
      await sleep(100);
      packs = (await listAll(loc.storage, DATA_PREFIX)).length;
    }
    expect(packs).toBeGreaterThanOrEqual(2);
    child.kill('SIGKILL');
    const result = await done;
    expect(result.signal).toBe('SIGKILL');
    expect(await listAll(loc.storage, LOCKS_PREFIX)).toHaveLength(1); // the dead process's lock

    const repo = await reopen(loc);
    const report = await checkRepository(repo);
    expect(report.errors).toEqual([]);
    expect(report.warnings.some((w) => /not indexed/.test(w))).toBe(true);
    expect(await listSnapshots(repo)).toHaveLength(0);

    // The next backup takes over: the stale lock of the dead pid is removed.
    const next = await runCli(['repo', 'backup', '--stdin', '--name', 'dump.sql', '--json'], env, seededBytes('after', 1024 * 1024));
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
    expect(JSON.parse(next.stdout).target).toBe('stdin');

    // the pack it was filling when it died sits in a spool file (a local repository's own, in data/)
    const spoolFiles = async () => (await fs.readdir(loc.location, { recursive: true })).filter((name) => name.includes('dbm-pack.tmp-'));
    const local = !loc.location.startsWith('s3://');
    if (local) expect((await spoolFiles()).length).toBeGreaterThanOrEqual(1);
    // on S3 it sits in the shared temp directory, named after the dead writer: prune takes it once it is old enough
    // to be sure of (backdated here), and no one else's
    const s3Spool = async () => (await fs.readdir(tmpdir())).filter((name) => name.startsWith(`dbm-pack.tmp-${child.pid}-`)).map((name) => path.join(tmpdir(), name));
    if (!local) {
      const left = await s3Spool();
      expect(left.length).toBeGreaterThanOrEqual(1);
      const old = (Date.now() - DEAD_SPOOL_MIN_AGE_MS - 60_000) / 1000;
      for (const file of left) utimesSync(file, old, old);
    }
    const pruned = await prune(await reopen(loc));
    expect(pruned.packsUnindexed).toBeGreaterThanOrEqual(2);
    expect(pruned.spoolFilesRemoved).toBeGreaterThanOrEqual(1);
    if (local) expect(await spoolFiles()).toEqual([]);
    else expect(await s3Spool()).toEqual([]);
    const clean = await checkRepository(await reopen(loc), { readData: true });
    expect(clean.errors).toEqual([]);
    expect(clean.warnings).toEqual([]);
    expect(await listAll(loc.storage, LOCKS_PREFIX)).toHaveLength(0);
  });
});
