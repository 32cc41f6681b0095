import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandLine } from '../../bench/installedCommand';
import { acquireLock, listSnapshots } from '../../engine';
import { DATA_PREFIX } from '../../engine/repository/layout';
import { listAll } from '../../engine/storage/storage';
import { backends, newRepository, PASSPHRASE, reopen, tempDir } from '../support/backends';
import { CLI, runCli } from '../support/cli';
import { describeTree, makeSampleTree, seededBytes } from '../support/trees';

/** An error is one line, with no stack trace. */
function oneLine(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe.each(backends)('the repo CLI on $name storage', (backend) => {
  it('inits, backs up, lists, restores, checks and forgets', async () => {
    const loc = backend.make();
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    const init = await runCli(['repo', 'init'], env);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^created repository [0-9a-f]{8} at /);
    expect((await runCli(['repo', 'init'], env)).code).toBe(2); // never over an existing one

    const src = path.join(tempDir(), 'src');
    await makeSampleTree(src);
    const backup = await runCli(['repo', 'backup', src, '--tag', 'env=test', '--exclude', '*.bin', '--json'], env);
    expect(backup.code).toBe(0);
    const snap = JSON.parse(backup.stdout);
    expect(snap).toMatchObject({ target: 'files', type: 'full', files: 8 });
    expect(snap.bytesAdded).toBeGreaterThan(0);

    const list = await runCli(['repo', 'snapshots', '--json'], env);
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).toEqual([snap.id]);
    const human = await runCli(['repo', 'snapshots'], env);
    expect(human.stdout).toMatch(/^ID\s+TIME \(UTC\)\s+TARGET/);
    expect(human.stdout).toContain(snap.short_id);

    const out = tempDir();
    const restore = await runCli(['repo', 'restore', snap.short_id, '--target', out], env);
    expect(restore.code).toBe(0);
    const expected = await describeTree(src);
    delete expected['docs/nested/deeper/blob.bin'];
    expect(await describeTree(path.join(out, 'src'))).toEqual(expected);

    const check = await runCli(['repo', 'check', '--read-data-subset', '50%'], env);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/no errors were found/);

    const forget = await runCli(['repo', 'forget', '--keep-last', '1', '--dry-run', '--json'], env);
    expect(JSON.parse(forget.stdout).keep[0].reasons).toEqual(['last 1']);
  });

  it('pipes a stream in with --stdin and out with --stdout, byte for byte', async () => {
    const loc = backend.make();
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    await runCli(['repo', 'init'], env);
    const data = seededBytes('pipe', 3 * 1024 * 1024 + 5);
    const backup = await runCli(['repo', 'backup', '--stdin', '--name', 'db.sql', '--target', 'postgres'], env, data);
    expect(backup.code).toBe(0);
    const restore = await runCli(['repo', 'restore', 'latest', '--from', 'postgres', '--stdout'], env);
    expect(restore.code).toBe(0);
    expect(restore.stdoutBytes.equals(data)).toBe(true);

    // Standard input from a file (a read stream, not a pipe): its chunks are freed as they are copied too
    const file = path.join(tempDir(), 'dump.sql');
    await fs.writeFile(file, data);
    const fd = openSync(file, 'r');
    const fromFile = spawnSync(process.execPath, [CLI, 'repo', 'backup', '--stdin', '--name', 'file.sql', '--target', 'from-file'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: [fd, 'pipe', 'pipe'],
    });
    closeSync(fd);
    expect(fromFile.status, fromFile.stderr.toString()).toBe(0);
    const again = await runCli(['repo', 'restore', 'latest', '--from', 'from-file', '--stdout'], env);
    expect(again.stdoutBytes.equals(data)).toBe(true);
  });

  it('init --compression sets the level a repository keeps: off, fast and a high level store what they promise, byte for byte', async () => {
    // real text (TypeScript's DOM types), where the levels differ plainly
    const data = readFileSync(path.resolve(__dirname, '../../node_modules/typescript/lib/lib.dom.d.ts'));
    const stored: Record<string, number> = {};
    for (const [compression, level] of [['off', 0], ['fast', 1], ['default', 3], ['9', 9]] as const) {
      const loc = backend.make();
      const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
      expect((await runCli(['repo', 'init', '--compression', compression], env)).code).toBe(0);
      expect((await reopen(loc)).config.compressionLevel).toBe(level);
      expect((await runCli(['repo', 'backup', '--stdin', '--name', 'dom.d.ts'], env, data)).code).toBe(0);
      const restore = await runCli(['repo', 'restore', 'latest', '--stdout'], env);
      expect(restore.stdoutBytes.equals(data)).toBe(true);
      expect((await runCli(['repo', 'check', '--read-data'], env)).code).toBe(0);
      stored[compression] = (await listAll(loc.storage, DATA_PREFIX)).reduce((sum, o) => sum + o.size, 0);
    }
    expect(stored.off).toBeGreaterThan(data.length); // kept whole, with its encryption's overhead
    expect(stored.fast).toBeLessThan(stored.off / 3);
    expect(stored.default).toBeLessThan(stored.fast);
    expect(stored['9']).toBeLessThan(stored.default);

    // a level above the bound is refused before anything is made
    const refused = backend.make();
    const tooHigh = await runCli(['repo', 'init', '--compression', '10'], { ...refused.env, DBM_PASSPHRASE: PASSPHRASE });
    expect(tooHigh.code).toBe(2);
    expect(tooHigh.stderr).toBe('error: compression level must be from 0 (off) to 9, not 10\n');
    if (backend.name === 'local') expect(existsSync(refused.location)).toBe(false);
    else await expect(listAll(refused.storage, '')).rejects.toThrow(/bucket does not exist/); // not even the bucket
  });

  it('opens with a generated recovery key when the passphrase is lost', async () => {
    const { loc } = await newRepository(backend);
    const dir = tempDir();
    const pem = path.join(dir, 'recovery.pem');
    const add = await runCli(['repo', 'key', 'add', '--generate-recovery-key', pem], { ...loc.env, DBM_PASSPHRASE: PASSPHRASE });
    expect(add.code).toBe(0);
    expect((await fs.stat(pem)).mode & 0o777).toBe(0o600);
    const list = await runCli(['repo', 'key', 'list', '--recovery-key', pem, '--json'], loc.env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((s: { type: string }) => s.type).sort()).toEqual(['passphrase', 'rsa']);
  });
});

describe('repo CLI exit codes', () => {
  const local = backends[0];

  it('2 for usage errors, each a single line', async () => {
    const { loc } = await newRepository(local);
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    for (const args of [
      ['repo', 'backup', '/tmp', '--type', 'weekly'],
      ['repo', 'backup'],
      ['repo', 'backup', '--stdin'],
      ['repo', 'restore', 'latest'],
      ['repo', 'forget'],
      ['repo', 'forget', '--keep-last', 'many'],
      ['repo', 'check', '--read-data-subset', '150%'],
      ['repo', 'restore', 'zz-not-hex', '--target', '/tmp/x'],
      ['repo', 'backup', '/no/such/dir'],
      ['repo', 'init', '--compression', '10'],
      ['repo', 'init', '--compression', 'max'],
    ]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      oneLine(r.stderr);
    }
    // the stack's settings too, before anything is started
    const dataDir = path.join(tempDir(), 'data');
    const stack = await runCli(['stack', 'start'], { DBM_DATA_DIR: dataDir, DBM_COMPRESSION: 'max' });
    expect(stack.code).toBe(2);
    oneLine(stack.stderr);
    expect(stack.stderr).toContain('DBM_COMPRESSION=max: use default (zstd level 3), fast (level 1) or off');
    expect(existsSync(dataDir)).toBe(false);
    const noPass = await runCli(['repo', 'snapshots'], loc.env);
    expect(noPass.code).toBe(2);
    expect(noPass.stderr).toMatch(/no passphrase/);
  });

  it('10 when there is no repository, 12 for a wrong passphrase', async () => {
    const empty = tempDir();
    const none = await runCli(['repo', 'snapshots', '--repo', empty], { DBM_PASSPHRASE: 'x' });
    expect(none.code).toBe(10);
    expect(none.stderr).toBe(`error: no repository at ${empty}\n`);
    const { loc } = await newRepository(local);
    const wrong = await runCli(['repo', 'snapshots'], { ...loc.env, DBM_PASSPHRASE: 'wrong' });
    expect(wrong.code).toBe(12);
    oneLine(wrong.stderr);
  });

  it('11 when the repository is locked, and waits with --retry-lock', async () => {
    const { loc } = await newRepository(local);
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    const lock = await acquireLock(await reopen(loc), { exclusive: true, operation: 'prune' });
    const locked = await runCli(['repo', 'backup', '--stdin', '--name', 'x'], env, 'data');
    expect(locked.code).toBe(11);
    expect(locked.stderr).toMatch(/exclusive lock held by prune/);
    setTimeout(() => void lock.release(), 1000);
    const waited = await runCli(['repo', 'backup', '--stdin', '--name', 'x', '--retry-lock', '30s'], env, 'data');
    expect(waited.code).toBe(0);
  });

  it('unlock removes stale locks only; --remove-all removes a live one held by a process that lives on (n8n)', async () => {
    const { loc } = await newRepository(local);
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    const lock = await acquireLock(await reopen(loc), { exclusive: false, operation: 'backup files' }); // this process lives on
    const kept = await runCli(['repo', 'unlock'], env);
    expect(kept.stdout).toMatch(/^removed 0 stale locks; 1 live \(held by backup files, pid \d+ on .*\): --remove-all removes them too$/m);
    const all = await runCli(['repo', 'unlock', '--remove-all'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe('removed all 1 locks\n');
    expect((await runCli(['repo', 'prune'], env)).code).toBe(0); // an exclusive lock is free to take again
    await lock.release();
  });

  it('1, with the reason, when a command stops waiting on something that can never happen: never 0 with nothing done', async () => {
    const { loc } = await newRepository(local);
    const src = tempDir();
    await fs.writeFile(path.join(src, 'f'), 'data');
    // a backup whose work never settles, and nothing left for the event loop: what a stalled internal wait looks like
    const script = `
      require(${JSON.stringify(path.resolve(CLI, '../../engine/archiver.js'))}).backupTree = () => new Promise(() => {});
      require(${JSON.stringify(path.resolve(CLI, '../program.js'))}).run([process.argv[0], 'dbm', 'repo', 'backup', ${JSON.stringify(src)}]);`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...loc.env, DBM_PASSPHRASE: PASSPHRASE }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: the command stopped before it finished/);
    oneLine(r.stderr);
    expect((await listSnapshots(await reopen(loc))).length).toBe(0);
  });

  it('1 when check finds damage', async () => {
    const { loc } = await newRepository(local);
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE };
    await runCli(['repo', 'backup', '--stdin', '--name', 'x'], env, seededBytes('d', 100_000));
    const packDir = path.join(loc.location, 'data');
    const [sub] = await fs.readdir(packDir);
    const [pack] = await fs.readdir(path.join(packDir, sub));
    await fs.truncate(path.join(packDir, sub, pack), 500);
    const r = await runCli(['repo', 'check', '--read-data'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/error: pack [0-9a-f]{12} has size 500/);
  });
});

describe('repo wal-fetch as a restore_command', () => {
  it('exits 255 when fetching fails, so PostgreSQL stops recovery instead of taking it for the end of the archive (1)', async () => {
    const res = await runCli(['repo', '--repo', path.join(tempDir(), 'no-repository'), 'wal-fetch', '--cluster', 'main', '000000010000000000000001', path.join(tempDir(), 'x')], { DBM_PASSPHRASE: PASSPHRASE });
    expect(res.code).toBe(255);
    expect(res.stderr).toMatch(/^error: fetching 000000010000000000000001 failed: /);
  });
});

describe('the installed command', () => {
  it('is on PATH after `npm link` and finds a Node it can run on when the one on PATH is too old', () => {
    const root = path.resolve(__dirname, '..', '..');
    const prefix = tempDir('dbm-prefix-');
    const link = spawnSync('npm', ['link', '--no-audit', '--no-fund'], { cwd: root, env: { ...process.env, npm_config_prefix: prefix }, encoding: 'utf8' });
    expect(link.status, link.stderr).toBe(0);
    // the system's own Node (20 on these machines), not the one npm scripts put first on PATH
    const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => existsSync(n));
    const env = { PATH: [path.join(prefix, 'bin'), ...(systemNode ? [path.dirname(systemNode)] : []), '/usr/bin', '/bin'].join(':'), HOME: tempDir() };
    const version = spawnSync('data-backup-manager', ['--version'], { env, encoding: 'utf8' });
    expect(version.stderr).toBe('');
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    // exit codes come through the second Node unchanged
    expect(spawnSync('data-backup-manager', ['repo', '--repo', tempDir(), 'snapshots'], { env, encoding: 'utf8' }).status).toBe(2);
    if (systemNode && Number(spawnSync(systemNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout) < 22) {
      // and without the pinned Node, the old one says what it needs
      const alone = spawnSync(systemNode, [path.join(root, 'dist', 'cli', 'main.js'), '--version'], { env: { ...env, DBM_NODE_REEXEC: '1' }, encoding: 'utf8' });
      expect(alone.status).toBe(1);
      expect(alone.stderr).toMatch(/needs Node\.js >= 22\.15 \(for zstd\); this is v\d+.*\nInstall Node\.js 24 .*or run `npm ci` in /);
    }
  });

  it('asks for huge pages for itself, not for the programs it starts', () => {
    // as the kernel runs it: env(1) with what its first line says, then the program
    const [env1, words] = commandLine(CLI, '--version');
    expect(words).toContain('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
    // what the process started with (/proc/self/environ) and what its children would get (process.env)
    const probe = path.join(tempDir(), 'probe.cjs');
    writeFileSync(
      probe,
      `process.on('exit', () => process.stderr.write(JSON.stringify({
        started: require('fs').readFileSync('/proc/self/environ', 'utf8').split('\\0').find((v) => v.startsWith('GLIBC_TUNABLES=')),
        children: process.env.GLIBC_TUNABLES ?? null })))`,
    );
    const env = { PATH: '/usr/bin:/bin', NODE_OPTIONS: `--require ${probe}` };
    const res = spawnSync(env1, words, { env, encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    expect(JSON.parse(res.stderr)).toEqual({ started: 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1', children: null });
  });

  it('repo snapshots on a local repository derives its key while the engine loads, and loads no client it does not use', async () => {
    const repo = tempDir();
    const env = { PATH: process.env.PATH ?? '', DBM_PASSPHRASE: PASSPHRASE, DBM_REPOSITORY: repo };
    expect((await runCli(['repo', 'init'], env)).code).toBe(0);
    // records, at the key derivation's start, whether the repository module had loaded yet, and at exit every module that had
    const probe = path.join(tempDir(), 'probe.cjs');
    writeFileSync(
      probe,
      `const crypto = require('crypto'); const scrypt = crypto.scrypt; let engineFirst = null;
      crypto.scrypt = function (...args) {
        engineFirst ??= Object.keys(require.cache).some((f) => f.endsWith('/engine/repository/repository.js'));
        return scrypt.apply(this, args);
      };
      process.on('exit', () => process.stderr.write(JSON.stringify({ engineFirst, modules: Object.keys(require.cache) })));`,
    );
    const res = await runCli(['repo', 'snapshots'], { ...env, NODE_OPTIONS: `--require ${probe}` });
    expect(res.code, res.stderr).toBe(0);
    const { engineFirst, modules } = JSON.parse(res.stderr) as { engineFirst: boolean | null; modules: string[] };
    expect(engineFirst).toBe(false);
    expect(modules.some((f) => f.endsWith('/engine/repository/repository.js'))).toBe(true);
    for (const unused of ['minio', 'pg', 'zod', 'hono', 'node-forge', 'pino']) {
      expect(modules.filter((f) => f.includes(`/node_modules/${unused}/`))).toEqual([]);
    }
  });
});
