/**
 * Start-up benchmark (issue 15): the wall time of short commands, the way a
 * user runs them (the installed command: env(1), Node with the program's
 * flags, no npm), side by side in one run with `node -e 0` (Node alone) and
 * restic 0.14's same commands. `repo snapshots` reads a small repository of
 * three snapshots in a local directory. Rounds alternate between the
 * commands; the table shows medians. Prints Markdown; asserts nothing.
 *
 *   npm run bench:startup [-- --rounds 15 --dir /tmp/dbm-bench-startup]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { installedCommand } from './installedCommand';
import { option } from './option';

const WORK = path.resolve(option('dir', '/tmp/dbm-bench-startup'));
const ROUNDS = Number(option('rounds', '15'));
const PASSPHRASE = 'bench-startup-passphrase';

interface Command {
  label: string;
  argv: [string, string[]];
  env?: NodeJS.ProcessEnv;
  goal?: string;
}

/** Seconds one run of `argv` took, its output thrown away; throws when it fails (a timing of a failure means nothing). */
function time([cmd, argv]: [string, string[]], env: NodeJS.ProcessEnv = {}): number {
  const started = process.hrtime.bigint();
  const res = spawnSync(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status}): ${res.stderr}`);
  return seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (s: number): string => `${Math.round(s * 1000)} ms`;

function main(): void {
  rmSync(WORK, { recursive: true, force: true });
  const repo = path.join(WORK, 'repo');
  const resticRepo = path.join(WORK, 'repo-restic');
  const data = path.join(WORK, 'data');
  mkdirSync(data, { recursive: true });
  const ours = { DBM_REPOSITORY: repo, DBM_PASSPHRASE: PASSPHRASE };
  const restic = { RESTIC_REPOSITORY: resticRepo, RESTIC_PASSWORD: PASSPHRASE, RESTIC_CACHE_DIR: path.join(WORK, 'restic-cache') };
  const hasRestic = spawnSync('restic', ['version']).status === 0;

  // A small repository: three snapshots of a few files, each changed a little.
  time(installedCommand('repo', 'init'), ours);
  if (hasRestic) time(['restic', ['init', '--quiet']], restic);
  for (let i = 0; i < 3; i++) {
    for (let f = 0; f < 20; f++) writeFileSync(path.join(data, `file-${f}.txt`), `file ${f}, version ${i}\n`.repeat(100 + f));
    time(installedCommand('repo', 'backup', data), ours);
    if (hasRestic) time(['restic', ['backup', '--quiet', data]], restic);
  }

  const commands: Command[] = [
    { label: '`node -e 0` (Node.js alone)', argv: [process.execPath, ['-e', '0']] },
    { label: 'data-backup-manager --version', argv: installedCommand('--version'), goal: '≤ 120 ms' },
    { label: 'data-backup-manager repo snapshots', argv: installedCommand('repo', 'snapshots'), env: ours, goal: '≤ 250 ms' },
  ];
  if (hasRestic) {
    commands.push({ label: 'restic version', argv: ['restic', ['version']] });
    commands.push({ label: 'restic snapshots', argv: ['restic', ['snapshots', '--quiet']], env: restic });
  }
  // One untimed run of each first: the first run of a command fills the page cache and Node's compile cache.
  for (const c of commands) time(c.argv, c.env);
  const times = commands.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) commands.forEach((c, i) => times[i].push(time(c.argv, c.env)));

  const version = (cmd: string, flag: string): string => spawnSync(cmd, [flag], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  console.log(`\n${ROUNDS} rounds in alternation, medians (min–max); ${process.version}; ${hasRestic ? version('restic', 'version') : 'restic not installed'}\n`);
  console.log('| command | wall, median | min–max | goal (issue 15) |');
  console.log('|---|---|---|---|');
  commands.forEach((c, i) => console.log(`| ${c.label} | ${ms(median(times[i]))} | ${ms(Math.min(...times[i]))}–${ms(Math.max(...times[i]))} | ${c.goal ?? '—'} |`));
  rmSync(WORK, { recursive: true, force: true });
}

main();
