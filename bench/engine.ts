/**
 * Engine benchmark, side by side with restic in one run (issue: the backup
 * engine). Generates a ~256 MiB tree (many small text files, medium logs, a
 * few incompressible binaries), then for each tool: first backup (wall time,
 * peak RSS), repository size, a second backup after a ~1 % change (time,
 * bytes added), and a full restore (wall time). Rounds alternate the tools and
 * the table shows medians. Prints a Markdown table; asserts nothing.
 *
 *   npm run bench:engine [-- --rounds 3 --dir /tmp/dbm-bench --tree mixed|small|large --restore-dir /dev/shm/dbm-bench-restore]
 *
 * Restores go to a tmpfs (/dev/shm) by default: see RESTORE_DIR.
 * `--tree small` is 100,000 files of 1–8 KiB instead (restic's weak spot);
 * `--tree large` ~2 GiB of large binaries and logs (memory at that size).
 *
 * Needs restic and GNU time (`apt-get install -y restic time`); borg 1.2
 * (`borgbackup`) adds a second reference column when installed.
 */
import { installedCommand } from './installedCommand';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { changeLargeTree, changeOnePercent, changeSmallFiles, generateLargeTree, generateSmallFiles, generateTree } from './tree';
import { option } from './option';

const ROUNDS = Number(option('rounds', '3'));
const WORK = path.resolve(option('dir', '/tmp/dbm-bench'));
/**
 * Where every tool restores. On ext4, creating a file scans past every inode
 * deleted in the last 60 s, or 360 s while the inode table is not yet
 * checkpointed (`recently_deleted`: `perf` showed it taking 60 % of a
 * restore's CPU, openat ~700 µs instead of ~20). The bench deletes trees and
 * repositories between runs, so a restore on disk measured 2-4x slower or
 * not, for every tool, by how soon it ran after one: 0.77x restic in one run
 * and 2.97x in the next, on the same code. A tmpfs has no such window, so
 * the restore figures are the tools' own. `--restore-dir` restores elsewhere.
 */
const RESTORE_DIR = path.resolve(option('restore-dir', existsSync('/dev/shm') ? '/dev/shm/dbm-bench-restore' : path.join(WORK, 'restores')));
const TREES = {
  mixed: { generate: generateTree, change: changeOnePercent },
  small: { generate: generateSmallFiles, change: changeSmallFiles },
  large: { generate: generateLargeTree, change: changeLargeTree },
};
const TREE = option('tree', 'mixed') as keyof typeof TREES;
if (!(TREE in TREES)) {
  console.error(`--tree is one of ${Object.keys(TREES).join(', ')}`);
  process.exit(2);
}
const { generate, change } = TREES[TREE];
const PASSWORD = 'bench-passphrase';

interface Timed {
  seconds: number;
  maxRssMiB: number;
  stdout: string;
}

/** Runs a command under GNU time; argument arrays only, never a shell string. */
function timed(cmd: string, argv: string[], env: Record<string, string> = {}, cwd?: string): Timed {
  const res = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...argv], {
    env: { ...process.env, ...env },
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  const lines = res.stderr.trim().split('\n');
  const [secs, kb] = lines[lines.length - 1].split(' ').map(Number);
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status}):\n${res.stderr}`);
  return { seconds: secs, maxRssMiB: kb / 1024, stdout: res.stdout };
}

/** The files under `dir` and their bytes. */
function du(dir: string): { files: number; bytes: number } {
  const total = { files: 0, bytes: 0 };
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        total.files++;
        total.bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return total;
}

const duBytes = (dir: string): number => du(dir).bytes;

interface Row {
  first: number;
  firstRss: number;
  repo: number;
  second: number;
  added: number;
  unchanged: number;
  restore: number;
  restoreRss: number;
}

function runOurs(tree: string, repo: string, restoreDir: string, round: number, pristine: string): Promise<Row> | Row {
  const env = { DBM_PASSPHRASE: PASSWORD };
  rmSync(repo, { recursive: true, force: true });
  timed(...installedCommand('repo', 'init', '--repo', repo), env);
  settle();
  const first = timed(...installedCommand('repo', 'backup', '--repo', repo, tree), env);
  const size = duBytes(repo);
  return (async () => {
    await change(tree, round);
    const second = timed(...installedCommand('repo', 'backup', '--repo', repo, tree), env);
    const added = duBytes(repo) - size;
    const unchanged = timed(...installedCommand('repo', 'backup', '--repo', repo, tree), env);
    settle();
    const restore = timed(...installedCommand('repo', 'restore', 'latest', '--repo', repo, '--target', restoreDir), env);
    await resetTree(pristine, tree);
    return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, unchanged: unchanged.seconds, restore: restore.seconds, restoreRss: restore.maxRssMiB };
  })();
}

async function runRestic(tree: string, repo: string, restoreDir: string, round: number, pristine: string): Promise<Row> {
  const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(WORK, 'restic-cache') };
  rmSync(repo, { recursive: true, force: true });
  rmSync(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
  timed('restic', ['init', '--repo', repo, '--quiet'], env);
  settle();
  const first = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const size = duBytes(repo);
  await change(tree, round);
  const second = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const added = duBytes(repo) - size;
  const unchanged = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  settle();
  const restore = timed('restic', ['restore', 'latest', '--repo', repo, '--target', restoreDir, '--quiet'], env);
  await resetTree(pristine, tree);
  return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, unchanged: unchanged.seconds, restore: restore.seconds, restoreRss: restore.maxRssMiB };
}

/** borg 1.2, encrypted like the others (repokey-blake2), with its default compression (lz4). */
async function runBorg(tree: string, repo: string, restoreDir: string, round: number, pristine: string): Promise<Row> {
  const base = path.join(WORK, 'borg-base');
  const env = { BORG_PASSPHRASE: PASSWORD, BORG_BASE_DIR: base, BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
  rmSync(base, { recursive: true, force: true });
  timed('borg', ['init', '--encryption=repokey-blake2', repo], env);
  settle();
  const first = timed('borg', ['create', `${repo}::first`, tree], env);
  const size = duBytes(repo);
  await change(tree, round);
  const second = timed('borg', ['create', `${repo}::second`, tree], env);
  const added = duBytes(repo) - size;
  const unchanged = timed('borg', ['create', `${repo}::third`, tree], env);
  mkdirSync(restoreDir, { recursive: true });
  settle();
  const restore = timed('borg', ['extract', `${repo}::third`], env, restoreDir);
  await resetTree(pristine, tree);
  return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, unchanged: unchanged.seconds, restore: restore.seconds, restoreRss: restore.maxRssMiB };
}

/**
 * Writes dirty pages out and waits a little: on this kind of disk, deleting or
 * writing 100,000 files keeps the file system busy for seconds afterwards,
 * and whichever tool ran next paid for it (file creation measured 5x slower).
 */
function settle(seconds = 3): void {
  spawnSync('sync');
  sleep(seconds * 1000);
}

function sleep(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Puts the changed files back (same content, new mtimes), so every round starts alike. */
async function resetTree(pristine: string, tree: string): Promise<void> {
  rmSync(tree, { recursive: true, force: true });
  spawnSync('cp', ['-a', pristine, tree]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (n: number): string => (n / 1048576).toFixed(1);

async function main(): Promise<void> {
  if (!existsSync('/usr/bin/time') || spawnSync('restic', ['version']).status !== 0) {
    console.error('needs GNU time and restic: apt-get install -y restic time');
    process.exit(2);
  }
  mkdirSync(WORK, { recursive: true });
  const pristine = path.join(WORK, 'pristine');
  const tree = path.join(WORK, 'tree');
  console.error(`generating the tree in ${pristine} …`);
  await generate(pristine);
  await resetTree(pristine, tree);
  const { files: fileCount, bytes: treeBytes } = du(tree);
  const hasBorg = spawnSync('borg', ['--version']).status === 0;
  const ours: Row[] = [];
  const restic: Row[] = [];
  const borg: Row[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    console.error(`round ${r + 1}/${ROUNDS}`);
    // the last round's restores and repositories go first, and their deletion settles before anything is timed
    for (const tool of ['dbm', 'restic', 'borg']) {
      rmSync(path.join(RESTORE_DIR, tool), { recursive: true, force: true });
      rmSync(path.join(WORK, `repo-${tool}`), { recursive: true, force: true });
    }
    settle(10);
    // warm the page cache the same way for each
    spawnSync('tar', ['-cf', '/dev/null', tree]);
    ours.push(await runOurs(tree, path.join(WORK, 'repo-dbm'), path.join(RESTORE_DIR, 'dbm'), r, pristine));
    spawnSync('tar', ['-cf', '/dev/null', tree]);
    restic.push(await runRestic(tree, path.join(WORK, 'repo-restic'), path.join(RESTORE_DIR, 'restic'), r, pristine));
    if (hasBorg) {
      spawnSync('tar', ['-cf', '/dev/null', tree]);
      borg.push(await runBorg(tree, path.join(WORK, 'repo-borg'), path.join(RESTORE_DIR, 'borg'), r, pristine));
    }
  }
  rmSync(RESTORE_DIR, { recursive: true, force: true }); // a tmpfs holds it in memory
  const m = (rows: Row[], k: keyof Row): number => median(rows.map((x) => x[k]));
  const s = (n: number): string => `${n.toFixed(2)} s`;
  const b = (n: number): string => `${mib(n)} MiB`;
  const line = (label: string, k: keyof Row, fmt: (n: number) => string, goal: string, scale = 1): string => {
    const [o, re] = [m(ours, k) * scale, m(restic, k) * scale];
    const bo = hasBorg ? m(borg, k) * scale : NaN;
    return `| ${label} | ${fmt(o)} | ${fmt(re)} | ${(o / re).toFixed(2)}x | ${hasBorg ? `${fmt(bo)} | ${(o / bo).toFixed(2)}x` : '— | —'} | ${goal} |`;
  };
  const version = (cmd: string, flag: string): string => spawnSync(cmd, [flag], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  console.log(`\nTree: ${mib(treeBytes)} MiB in ${fileCount} files; ${ROUNDS} rounds, medians; ${version('restic', 'version')}; ${hasBorg ? version('borg', '--version') : 'borg not installed'}; ${process.version}; restores into ${RESTORE_DIR}\n`);
  console.log('| measure | data-backup-manager | restic | ours / restic | borg | ours / borg | goal (issue 15) |');
  console.log('|---|---|---|---|---|---|---|');
  console.log(line('first backup, wall', 'first', s, '≤ 0.8x restic'));
  console.log(line('first backup, peak RSS', 'firstRss', b, '≤ 150 MiB', 1048576));
  console.log(line('repository size', 'repo', b, '—'));
  console.log(line('second backup (~1 % changed), wall', 'second', s, '—'));
  console.log(line('second backup, bytes added', 'added', b, '—'));
  console.log(line('third backup (unchanged), wall', 'unchanged', s, '≤ 0.5x restic'));
  console.log(line('restore, wall', 'restore', s, '≤ 0.9x restic'));
  console.log(line('restore, peak RSS', 'restoreRss', b, '≤ 150 MiB', 1048576));
  // Each round's own ratio too: the machine's speed drifts between rounds, less within one (the tools run back to back).
  const rounds = (k: keyof Row): string =>
    ours.map((o, i) => `${o[k].toFixed(2)}/${restic[i][k].toFixed(2)} (${(o[k] / restic[i][k]).toFixed(2)}x)`).join(', ');
  console.log(`\nEach round, ours/restic in seconds: first backup ${rounds('first')}; unchanged ${rounds('unchanged')}; restore ${rounds('restore')}`);
}

void main();
