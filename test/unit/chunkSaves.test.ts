import { describe, expect, it } from 'vitest';
import { ChunkSaves } from '../../engine/archiver';

/** A save that ends when told to. */
function deferred(): { run: () => Promise<void>; resolve(): void; reject(err: Error): void; started: boolean } {
  let settle!: { resolve(): void; reject(err: Error): void };
  const d = {
    started: false,
    run: () => {
      d.started = true;
      return new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    },
    resolve: () => settle.resolve(),
    reject: (err: Error) => settle.reject(err),
  };
  return d;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the chunks of a backup in flight (ChunkSaves)', () => {
  it('runs at most its size at once, and the next as soon as one lands', async () => {
    const saves = new ChunkSaves(2);
    const [a, b, c] = [deferred(), deferred(), deferred()];
    await saves.add(a.run);
    await saves.add(b.run);
    const third = saves.add(c.run);
    await tick();
    expect(c.started).toBe(false);
    a.resolve();
    await third;
    expect(c.started).toBe(true);
    b.resolve();
    c.resolve();
    await saves.settled();
  });

  it("keeps a chunk's failure after the file that added it is done: the backup's next add and its end fail with it", async () => {
    // A chunk whose sealing worker died is stored nowhere, and the repository has no error of its own to fail the
    // commit with: only this keeps a snapshot from naming a blob that does not exist.
    const saves = new ChunkSaves(3);
    const lost = deferred();
    await saves.add(lost.run); // the last chunk of one file …
    const next = deferred();
    await saves.add(next.run); // … the first of the next
    lost.reject(new Error('a sealing worker stopped (exit code 1) with a chunk in hand'));
    await tick();
    await expect(saves.add(async () => undefined)).rejects.toThrow(/with a chunk in hand/);
    next.resolve();
    await expect(saves.settled()).rejects.toThrow(/with a chunk in hand/);
  });

  it('waits for every save, also those added while it waits', async () => {
    const saves = new ChunkSaves(1);
    const first = deferred();
    const second = deferred();
    await saves.add(first.run);
    let done = false;
    const settled = saves.settled().then(() => (done = true));
    const adding = saves.add(second.run);
    first.resolve();
    await adding;
    await tick();
    expect(done).toBe(false);
    second.resolve();
    await settled;
    expect(done).toBe(true);
  });
});
