/** Small concurrency primitives; the engine's only scheduling code. */

export class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Caps the bytes in flight; one oversized request may pass alone. */
export class ByteBudget {
  private used = 0;
  private waiting: { bytes: number; resolve: () => void }[] = [];
  constructor(private readonly limit: number) {}

  async take(bytes: number): Promise<void> {
    if (this.used === 0 || this.used + bytes <= this.limit) {
      this.used += bytes;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push({ bytes, resolve }));
  }

  give(bytes: number): void {
    this.used -= bytes;
    while (this.waiting.length > 0) {
      const next = this.waiting[0];
      if (this.used !== 0 && this.used + next.bytes > this.limit) break;
      this.waiting.shift();
      this.used += next.bytes;
      next.resolve();
    }
  }
}

/**
 * Marks a promise as handled now, for one that is awaited later: if it
 * rejected first, Node would call the rejection unhandled and end the process.
 * Awaiting it later still throws its error.
 */
export function awaitedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Runs fn over items with at most `limit` at once; rejects on the first error. */
export async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed: unknown = null;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failed) return;
      const next = iterator.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        failed ??= err;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) throw failed;
}
