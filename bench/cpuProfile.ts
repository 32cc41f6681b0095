/**
 * Reads the CPU profiles `node --cpu-prof` writes (one per thread: the main
 * thread and each worker) and prints, per thread, the functions that took
 * the most time, then a timeline: the top three functions of every slice of
 * time. The timeline is what shows a pipeline's phases, e.g. the sealing
 * worker busy compressing logs while the main thread has slack, then idle
 * while the main thread chunks incompressible files (docs/performance.md).
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/cli/main.js repo backup --repo R TREE
 *   npm run -s build && node dist/bench/cpuProfile.js /tmp/prof [--top 15] [--slice-ms 100]
 *
 * Times are sampled wall time: a thread that the kernel preempted is counted
 * in the function it was in, so on a busy machine a function can look dearer
 * than it is. `(idle)` is a thread waiting for work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { option } from './option';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const dir = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!dir) {
  console.error('usage: node dist/bench/cpuProfile.js DIR [--top 15] [--slice-ms 100]');
  process.exit(2);
}
const TOP = Number(option('top', '15'));
const SLICE_US = Number(option('slice-ms', '100')) * 1000;

function label(node: ProfileNode, withPlace: boolean): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!withPlace || !url) return name;
  return `${name} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
}

const ms = (us: number): string => (us / 1000).toFixed(0).padStart(6);

const profiles = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()
  .map((file) => ({ file, profile: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Profile }));
// One clock for every thread, so their timelines line up.
const origin = Math.min(...profiles.map((p) => p.profile.startTime));

for (const { file, profile } of profiles) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = new Map<string, number>();
  const slices = new Map<number, Map<string, number>>();
  let at = profile.startTime - origin;
  let sum = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i];
    at += dt;
    sum += dt;
    const node = byId.get(id)!;
    const key = label(node, true);
    total.set(key, (total.get(key) ?? 0) + dt);
    const slice = Math.floor(at / SLICE_US);
    const inSlice = slices.get(slice) ?? new Map<string, number>();
    slices.set(slice, inSlice);
    const short = label(node, false);
    inSlice.set(short, (inSlice.get(short) ?? 0) + dt);
  });
  console.log(`\n## ${file}: ${(sum / 1000).toFixed(0)} ms sampled\n`);
  for (const [key, us] of [...total].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${ms(us)} ms  ${key}`);
  console.log(`\ntimeline (ms from the first thread's start: top three, ms each, per ${SLICE_US / 1000} ms)`);
  for (const [slice, inSlice] of [...slices].sort((a, b) => a[0] - b[0])) {
    const top = [...inSlice]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, us]) => `${name} ${(us / 1000).toFixed(0)}`)
      .join(', ');
    console.log(`${String((slice * SLICE_US) / 1000).padStart(6)}  ${top}`);
  }
}
