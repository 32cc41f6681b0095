/**
 * Engine benchmark, side by side with restic in one run (issue: the backup
 * engine). Generates a ~256 MiB tree (many small text files, medium logs, a
 * few incompressible binaries), then for each tool: first backup (wall time,
 * peak RSS), repository size, a second backup after a ~1 % change (time,
 * bytes added), and a full restore (wall time). Rounds alternate the tools and
 * the table shows medians. Prints a Markdown table; asserts nothing.
 *
 *   npm run bench:engine [-- --rounds 3 --dir /tmp/dbm-bench --tree mixed|small]
 *
 * `--tree small` is 100,000 files of 1–8 KiB instead (restic's weak spot).
 *
 * Needs restic and GNU time (`apt-get install -y restic time`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { changeOnePercent, changeSmallFiles, generateSmallFiles, generateTree } from './tree';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const WORK = path.resolve(opt('dir', '/tmp/dbm-bench'));
const SMALL = opt('tree', 'mixed') === 'small';
const generate = SMALL ? generateSmallFiles : generateTree;
const change = SMALL ? changeSmallFiles : changeOnePercent;
const CLI = path.resolve(__dirname, '../cli/main.js');
const PASSWORD = 'bench-passphrase';

interface Timed {
  seconds: number;
  maxRssMiB: number;
  stdout: string;
}

/** Runs a command under GNU time; argument arrays only, never a shell string. */
function timed(cmd: string, argv: string[], env: Record<string, string> = {}): Timed {
  const res = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...argv], {
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  const lines = res.stderr.trim().split('\n');
  const [secs, kb] = lines[lines.length - 1].split(' ').map(Number);
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status}):\n${res.stderr}`);
  return { seconds: secs, maxRssMiB: kb / 1024, stdout: res.stdout };
}

function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  walk(dir);
  return total;
}

interface Row {
  first: number;
  firstRss: number;
  repo: number;
  second: number;
  added: number;
  unchanged: number;
  restore: number;
}

function runOurs(tree: string, repo: string, restoreDir: string, round: number, pristine: string): Promise<Row> | Row {
  const env = { DBM_PASSPHRASE: PASSWORD };
  rmSync(repo, { recursive: true, force: true });
  rmSync(restoreDir, { recursive: true, force: true });
  timed(process.execPath, [CLI, 'repo', 'init', '--repo', repo], env);
  const first = timed(process.execPath, [CLI, 'repo', 'backup', '--repo', repo, tree], env);
  const size = duBytes(repo);
  return (async () => {
    await change(tree, round);
    const second = timed(process.execPath, [CLI, 'repo', 'backup', '--repo', repo, tree], env);
    const added = duBytes(repo) - size;
    const unchanged = timed(process.execPath, [CLI, 'repo', 'backup', '--repo', repo, tree], env);
    const restore = timed(process.execPath, [CLI, 'repo', 'restore', 'latest', '--repo', repo, '--target', restoreDir], env);
    await resetTree(pristine, tree);
    return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, unchanged: unchanged.seconds, restore: restore.seconds };
  })();
}

async function runRestic(tree: string, repo: string, restoreDir: string, round: number, pristine: string): Promise<Row> {
  const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(WORK, 'restic-cache') };
  rmSync(repo, { recursive: true, force: true });
  rmSync(restoreDir, { recursive: true, force: true });
  rmSync(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
  timed('restic', ['init', '--repo', repo, '--quiet'], env);
  const first = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const size = duBytes(repo);
  await change(tree, round);
  const second = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const added = duBytes(repo) - size;
  const unchanged = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const restore = timed('restic', ['restore', 'latest', '--repo', repo, '--target', restoreDir, '--quiet'], env);
  await resetTree(pristine, tree);
  return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, unchanged: unchanged.seconds, restore: restore.seconds };
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
  const treeBytes = duBytes(tree);
  const ours: Row[] = [];
  const restic: Row[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    console.error(`round ${r + 1}/${ROUNDS}`);
    // warm the page cache the same way for both
    spawnSync('tar', ['-cf', '/dev/null', tree]);
    ours.push(await runOurs(tree, path.join(WORK, 'repo-dbm'), path.join(WORK, 'restore-dbm'), r, pristine));
    spawnSync('tar', ['-cf', '/dev/null', tree]);
    restic.push(await runRestic(tree, path.join(WORK, 'repo-restic'), path.join(WORK, 'restore-restic'), r, pristine));
  }
  const m = (rows: Row[], k: keyof Row): number => median(rows.map((x) => x[k]));
  const line = (label: string, o: number, re: number, fmt: (n: number) => string, budget: string): string =>
    `| ${label} | ${fmt(o)} | ${fmt(re)} | ${(o / re).toFixed(2)}x | ${budget} |`;
  const s = (n: number): string => `${n.toFixed(2)} s`;
  const b = (n: number): string => `${mib(n)} MiB`;
  const fileCount = SMALL ? 100_000 : 8000 + 40 + 6;
  console.log(`\nTree: ${mib(treeBytes)} MiB in ${fileCount} files; ${ROUNDS} rounds, medians; restic ${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' ')[1]}; ${process.version}\n`);
  console.log('| measure | data-backup-manager | restic | ratio | budget |');
  console.log('|---|---|---|---|---|');
  console.log(line('first backup, wall', m(ours, 'first'), m(restic, 'first'), s, '≤ 1.5x'));
  console.log(line('first backup, peak RSS', m(ours, 'firstRss') * 1048576, m(restic, 'firstRss') * 1048576, b, '≤ 300 MiB (ours)'));
  console.log(line('repository size', m(ours, 'repo'), m(restic, 'repo'), b, '≤ 1.1x'));
  console.log(line('second backup (~1 % changed), wall', m(ours, 'second'), m(restic, 'second'), s, '—'));
  console.log(line('second backup, bytes added', m(ours, 'added'), m(restic, 'added'), b, '≤ 1.5x'));
  console.log(line('third backup (unchanged), wall', m(ours, 'unchanged'), m(restic, 'unchanged'), s, '—'));
  console.log(line('restore, wall', m(ours, 'restore'), m(restic, 'restore'), s, '—'));
}

void main();
