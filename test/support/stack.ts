import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from './cli';

/**
 * `stack start` as a newcomer runs it, with these settings on top of the
 * environment: resolves once it prints "ready", with the process and what it
 * has printed so far (it goes on collecting).
 */
export async function startStack(env: Record<string, string>, timeoutMs = 240_000): Promise<{ child: ChildProcess; output: () => string }> {
  const out: string[] = [];
  const child = spawn(process.execPath, [CLI, 'stack', 'start'], { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const output = (): string => out.join('');
  for (const started = Date.now(); !output().includes('\nready\n'); await sleep(300)) {
    if (child.exitCode !== null) throw new Error(`stack start exited ${child.exitCode}: ${output()}`);
    if (Date.now() - started > timeoutMs) throw new Error(`stack start not ready: ${output()}`);
  }
  return { child, output };
}

/** Stops a stack started by startStack (SIGTERM, as Ctrl-C does), waiting for it to end. */
export async function stopStack(child: ChildProcess | null | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
