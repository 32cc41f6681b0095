import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../dist/cli/main.js');

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does)`);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Starts the real CLI binary on this Node (the one running the tests). */
export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Collects a child's output until it exits. `input` null leaves stdin open for the caller. */
export function finish(child: ChildProcess, input?: Buffer | string | null): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => undefined); // a killed child closes its end
  if (input === null) {
    // the caller writes
  } else if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}

/** Runs the CLI to its end; a run that outlives `timeoutMs` is killed and fails naming the command. */
export async function runCli(args: string[], env: Record<string, string> = {}, input?: Buffer | string, timeoutMs = 60_000): Promise<CliResult> {
  const child = startCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const result = await finish(child, input);
    if (result.signal === 'SIGKILL') throw new Error(`data-backup-manager ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${result.stderr}`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}
