/**
 * Engine benchmark, side by side with restic in one run (issue: the backup
 * engine). Generates a ~256 MiB tree (many small text files, medium logs, a
 * few incompressible binaries), then for each tool: first backup (wall time,
 * peak RSS), repository size, a second backup after a ~1 % change (time,
 * bytes added), and a full restore (wall time). Rounds alternate the tools and
 * the table shows medians. Prints a Markdown table; asserts nothing.
 *
 *   npm run bench:engine [-- --rounds 3 --dir /tmp/dbm-bench]
 *
 * Needs restic and GNU time (`apt-get install -y restic time`).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, promises as fs, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const WORK = path.resolve(opt('dir', '/tmp/dbm-bench'));
const CLI = path.resolve(__dirname, '../server/cli/main.js');
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

function rand(seed: string, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let pos = 0, i = 0; pos < n; pos += 32, i++) createHash('sha256').update(`${seed}/${i}`).digest().copy(out, pos);
  return out;
}

const WORDS = 'backup restore snapshot error warning info debug request response user session database query index pack chunk minio postgres worker schedule retention verify'.split(' ');

function logText(seed: string, bytes: number): Buffer {
  const r = rand(seed, Math.ceil(bytes / 8) + 64);
  const lines: string[] = [];
  let size = 0;
  let t = Date.UTC(2026, 0, 1) + r.readUInt32LE(0) * 1000;
  for (let i = 0; size < bytes; i++) {
    const b = r.readUInt32LE((i * 4) % (r.length - 4));
    t += b % 5000;
    const line = `${new Date(t).toISOString()} ${['INFO', 'WARN', 'DEBUG', 'ERROR'][b & 3]} ${WORDS[b % WORDS.length]} ${WORDS[(b >>> 8) % WORDS.length]} id=${(b >>> 4).toString(16)} took=${b % 997}ms user=${WORDS[(b >>> 16) % WORDS.length]}${b % 89}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('').slice(0, bytes));
}

async function generateTree(root: string): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  // ~32 MiB of small text files: 80 directories x 100 files of 1–7 KiB
  for (let d = 0; d < 80; d++) {
    const dir = path.join(root, 'projects', `p${d}`, 'src');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const size = 1024 + ((d * 131 + f * 71) % 6144);
      await fs.writeFile(path.join(dir, `file${f}.txt`), logText(`small-${d}-${f}`, size));
    }
  }
  // ~120 MiB of medium logs: 40 x 3 MiB
  mkdirSync(path.join(root, 'logs'), { recursive: true });
  for (let i = 0; i < 40; i++) await fs.writeFile(path.join(root, 'logs', `app${i}.log`), logText(`log-${i}`, 3 * 1024 * 1024));
  // ~100 MiB of incompressible binaries: 6 x 17 MiB
  mkdirSync(path.join(root, 'media'), { recursive: true });
  for (let i = 0; i < 6; i++) await fs.writeFile(path.join(root, 'media', `blob${i}.bin`), rand(`bin-${i}`, 17 * 1024 * 1024));
}

/** ~1 %: append to 10 logs, rewrite 100 small files, overwrite 1 MiB inside a binary. */
async function changeOnePercent(root: string, round: number): Promise<void> {
  for (let i = 0; i < 10; i++) await fs.appendFile(path.join(root, 'logs', `app${i}.log`), logText(`append-${round}-${i}`, 100 * 1024));
  for (let f = 0; f < 100; f++) {
    await fs.writeFile(path.join(root, 'projects', `p${f % 80}`, 'src', `file${f}.txt`), logText(`edit-${round}-${f}`, 4096));
  }
  const fh = await fs.open(path.join(root, 'media', 'blob0.bin'), 'r+');
  await fh.write(rand(`patch-${round}`, 1024 * 1024), 0, 1024 * 1024, 8 * 1024 * 1024);
  await fh.close();
}

interface Row {
  first: number;
  firstRss: number;
  repo: number;
  second: number;
  added: number;
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
    await changeOnePercent(tree, round);
    const second = timed(process.execPath, [CLI, 'repo', 'backup', '--repo', repo, tree], env);
    const added = duBytes(repo) - size;
    const restore = timed(process.execPath, [CLI, 'repo', 'restore', 'latest', '--repo', repo, '--target', restoreDir], env);
    await resetTree(pristine, tree);
    return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, restore: restore.seconds };
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
  await changeOnePercent(tree, round);
  const second = timed('restic', ['backup', '--repo', repo, '--quiet', tree], env);
  const added = duBytes(repo) - size;
  const restore = timed('restic', ['restore', 'latest', '--repo', repo, '--target', restoreDir, '--quiet'], env);
  await resetTree(pristine, tree);
  return { first: first.seconds, firstRss: first.maxRssMiB, repo: size, second: second.seconds, added, restore: restore.seconds };
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
  await generateTree(pristine);
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
  console.log(`\nTree: ${mib(treeBytes)} MiB in ${8000 + 40 + 6} files; ${ROUNDS} rounds, medians; restic ${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' ')[1]}; ${process.version}\n`);
  console.log('| measure | data-backup-manager | restic | ratio | budget |');
  console.log('|---|---|---|---|---|');
  console.log(line('first backup, wall', m(ours, 'first'), m(restic, 'first'), s, '≤ 1.5x'));
  console.log(line('first backup, peak RSS', m(ours, 'firstRss') * 1048576, m(restic, 'firstRss') * 1048576, b, '≤ 300 MiB (ours)'));
  console.log(line('repository size', m(ours, 'repo'), m(restic, 'repo'), b, '≤ 1.1x'));
  console.log(line('second backup (~1 % changed), wall', m(ours, 'second'), m(restic, 'second'), s, '—'));
  console.log(line('second backup, bytes added', m(ours, 'added'), m(restic, 'added'), b, '≤ 1.5x'));
  console.log(line('restore, wall', m(ours, 'restore'), m(restic, 'restore'), s, '—'));
}

void main();
