import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Worker threads booted before their work is known. A worker takes ~0.1 s
 * of a core to boot (isolate, Node, its modules), and a backup or restore
 * first waits ~0.15 s for the repository's key to be derived on one thread
 * of the pool: a command that starts its workers first overlaps the two.
 * The workers get their keys later, in their first message, never before.
 *
 * Spares are unreferenced: one nobody takes keeps no process alive, and one
 * that dies before it is taken is forgotten (no one would hear its exit).
 */
const spares = new Map<string, { worker: Worker; forget(): void }[]>();

export interface WorkerSettings {
  script: string;
  resourceLimits?: ResourceLimits;
  /** Node's default, true: the worker closes the descriptors it opened when it exits, and warns when it closes one it did not open */
  trackUnmanagedFds?: boolean;
}

/** Boots `count` workers of `script` for the next `takeWorker`s; returns them. */
export function startSpareWorkers({ script, resourceLimits, trackUnmanagedFds }: WorkerSettings, count: number): Worker[] {
  const list = spares.get(script) ?? [];
  spares.set(script, list);
  const started: Worker[] = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(script, { resourceLimits, trackUnmanagedFds });
    worker.unref();
    const spare = {
      worker,
      forget: (): void => {
        const at = list.indexOf(spare);
        if (at >= 0) list.splice(at, 1);
      },
    };
    // A spare's error also ends it ('exit' follows); the listener keeps it from being an uncaught one.
    worker.on('error', spare.forget);
    worker.on('exit', spare.forget);
    list.push(spare);
    started.push(worker);
  }
  return started;
}

/** A spare worker of `script` if one is booting or booted, else a new one; unreferenced either way. */
export function takeWorker({ script, resourceLimits, trackUnmanagedFds }: WorkerSettings): Worker {
  const spare = spares.get(script)?.shift();
  if (spare) {
    // the taker listens from here on (an error or exit not yet delivered reaches it)
    spare.worker.off('error', spare.forget);
    spare.worker.off('exit', spare.forget);
    return spare.worker;
  }
  const worker = new Worker(script, { resourceLimits, trackUnmanagedFds });
  worker.unref();
  return worker;
}
