import { StorageError } from '../errors';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectInfo, Storage } from './storage';

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  onRetry?: (op: string, key: string, attempt: number, err: unknown) => void;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH',
  'ENETUNREACH', 'UND_ERR_SOCKET', 'SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable',
  'RequestTimeTooSkewed', 'EMFILE',
]);

/** True for errors worth another try: network faults, throttling, 5xx answers. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; statusCode?: number; $metadata?: unknown };
  if (e && typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  if (e && typeof e.statusCode === 'number' && (e.statusCode >= 500 || e.statusCode === 429)) return true;
  return false;
}

/**
 * Wraps any backend with exponential backoff on transient errors, so that
 * no backend carries its own retry loop (restic's backend/retry).
 */
export class RetryingStorage implements Storage {
  readonly location: string;
  readonly spoolDir: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(private readonly inner: Storage, private readonly opts: RetryOptions = {}) {
    this.location = inner.location;
    this.spoolDir = inner.spoolDir;
    this.attempts = opts.attempts ?? 6;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
  }

  private async retry<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (attempt >= this.attempts) {
          const e = err as { code?: string; message?: string };
          throw new StorageError(`${op} ${key || this.location} failed ${attempt} times, the last with ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
        }
        this.opts.onRetry?.(op, key, attempt, err);
        const delay = this.baseDelayMs * 2 ** (attempt - 1);
        await sleep(delay + Math.random() * delay * 0.2);
      }
    }
  }

  create(): Promise<void> {
    return this.retry('create', '', () => this.inner.create());
  }
  put(key: string, data: Buffer | readonly Buffer[]): Promise<void> {
    return this.retry('put', key, () => this.inner.put(key, data));
  }
  /** A retry after a write whose answer was lost finds the object there: the caller compares what it holds (Repository.init does). */
  putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    return this.retry('put', key, () => this.inner.putIfAbsent(key, data));
  }
  putFile(key: string, file: string): Promise<void> {
    return this.retry('put', key, () => this.inner.putFile(key, file));
  }
  clearSpool(dryRun: boolean): Promise<{ files: number; bytes: number }> {
    return this.inner.clearSpool(dryRun);
  }
  get(key: string): Promise<Buffer> {
    return this.retry('get', key, () => this.inner.get(key));
  }
  getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.retry('getRange', key, () => this.inner.getRange(key, offset, length));
  }
  stat(key: string): Promise<ObjectInfo | null> {
    return this.retry('stat', key, () => this.inner.stat(key));
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // A listing is retried whole; it is idempotent and usually small.
    const items = await this.retry('list', prefix, async () => {
      const out: ObjectInfo[] = [];
      for await (const item of this.inner.list(prefix)) out.push(item);
      return out;
    });
    yield* items;
  }
  delete(key: string): Promise<void> {
    return this.retry('delete', key, () => this.inner.delete(key));
  }
}
