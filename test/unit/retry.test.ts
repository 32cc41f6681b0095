import { describe, expect, it } from 'vitest';
import { RetryingStorage, isTransient } from '../../engine/storage/retry';
import type { ObjectInfo, Storage } from '../../engine/storage/storage';

/** A backend that fails the first `failures` calls with the given error. */
function flaky(failures: number, error: object): Storage & { calls: number } {
  const store = new Map<string, Buffer>();
  const backend = {
    location: 'flaky',
    spoolDir: '/nonexistent',
    calls: 0,
    async fail() {
      backend.calls++;
      if (backend.calls <= failures) throw Object.assign(new Error('boom'), error);
    },
    async create() {},
    async put(key: string, data: Buffer | readonly Buffer[]) {
      await backend.fail();
      store.set(key, Buffer.isBuffer(data) ? data : Buffer.concat(data));
    },
    async putFile() {
      throw new Error('not used');
    },
    async clearSpool() {
      return { files: 0, bytes: 0 };
    },
    async get(key: string) {
      await backend.fail();
      return store.get(key)!;
    },
    async getRange(key: string, offset: number, length: number) {
      return store.get(key)!.subarray(offset, offset + length);
    },
    async stat(key: string): Promise<ObjectInfo | null> {
      return store.has(key) ? { key, size: store.get(key)!.length } : null;
    },
    async *list() {},
    async delete(key: string) {
      store.delete(key);
    },
  };
  return backend;
}

describe('retrying storage', () => {
  it('retries transient errors with backoff until it succeeds', async () => {
    const inner = flaky(3, { code: 'ECONNRESET' });
    const retried: number[] = [];
    const storage = new RetryingStorage(inner, { baseDelayMs: 1, onRetry: (_op, _key, attempt) => retried.push(attempt) });
    await storage.put('k', Buffer.from('v'));
    expect(inner.calls).toBe(4);
    expect(retried).toEqual([1, 2, 3]);
    expect((await storage.get('k')).toString()).toBe('v');
  });

  it('gives up after the last attempt and passes the error on', async () => {
    const inner = flaky(10, { statusCode: 503 });
    const storage = new RetryingStorage(inner, { attempts: 3, baseDelayMs: 1 });
    await expect(storage.put('k', Buffer.from('v'))).rejects.toThrow('boom');
    expect(inner.calls).toBe(3);
  });

  it('does not retry errors that will not go away', async () => {
    const inner = flaky(10, { code: 'AccessDenied', statusCode: 403 });
    const storage = new RetryingStorage(inner, { baseDelayMs: 1 });
    await expect(storage.put('k', Buffer.from('v'))).rejects.toThrow('boom');
    expect(inner.calls).toBe(1);
  });

  it('classifies errors', () => {
    expect(isTransient({ code: 'ETIMEDOUT' })).toBe(true);
    expect(isTransient({ code: 'SlowDown' })).toBe(true);
    expect(isTransient({ statusCode: 500 })).toBe(true);
    expect(isTransient({ code: 'NoSuchKey', statusCode: 404 })).toBe(false);
    expect(isTransient(new Error('plain'))).toBe(false);
  });
});
