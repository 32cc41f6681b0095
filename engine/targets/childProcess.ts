import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { BackupError } from '../errors';

/**
 * A spawned tool (pg_dump, pg_restore, psql). Arguments are an array, never a
 * shell string. The tail of its stderr is kept to explain a failure.
 */
export interface RunningTool {
  child: ChildProcess;
  /** resolves when it exits 0; rejects with its stderr tail otherwise */
  done: Promise<void>;
  /**
   * Stops it (SIGTERM) and lets go of its unread output. Output left unread
   * in a paused stream keeps its pipe open and the child's 'close' (so `done`)
   * from ever coming: in a long-lived process (n8n, the API) each backup that
   * failed beside a running dump kept a descriptor and the child's record.
   */
  stop(): void;
}

const STDERR_KEEP = 4096;

export function startTool(file: string, args: string[], env: NodeJS.ProcessEnv, what: string): RunningTool {
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-STDERR_KEEP);
  });
  // A tool that exits early closes its stdin under us; its exit status says why.
  child.stdin!.on('error', () => undefined);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new BackupError(`${what}: cannot run ${path.basename(file)} (${err.message})`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        const reason = lastLines(stderr) || (signal ? `killed by ${signal}` : `exit code ${code}`);
        reject(new BackupError(`${what} failed: ${reason}`));
      }
    });
  });
  done.catch(() => undefined); // observed by whoever awaits it
  const stop = (): void => {
    child.kill('SIGTERM');
    child.stdout?.destroy();
  };
  return { child, done, stop };
}

function lastLines(text: string): string {
  return text
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .slice(-3)
    .join('; ');
}
