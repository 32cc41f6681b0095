import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BackupCancelledError, backupStreams, backupTree, checkRepository, listLocks, listSnapshots, newProgress } from '../../engine';
import { backends, newRepository, reopen, tempDir } from '../support/backends';
import { seededBytes } from '../support/trees';

/** A backup that is cancelled, or runs over its budget, stops and commits nothing; the repository stays clean. */
describe.each(backends)('backup budgets and cancellation on $name storage', (backend) => {
  it('stops a backup over its byte budget, and one cancelled midway, without a snapshot or a lock left', async () => {
    const { repo, loc } = await newRepository(backend);
    const dir = tempDir();
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(dir, `f${i}.bin`), seededBytes(`budget${i}`, 2 * 1024 * 1024));

    await expect(backupTree(repo, [dir], { target: 'files', maxBytes: 5 * 1024 * 1024 })).rejects.toThrow(/more than its budget of 5242880 bytes/);

    const cancel = new AbortController();
    let sent = 0;
    const stream = new Readable({
      read() {
        if (sent === 3) cancel.abort(); // the caller cancels while the backup reads
        this.push(sent++ < 50 ? seededBytes(`s${sent}`, 1024 * 1024) : null);
      },
    });
    const cancelled = backupStreams(repo, [{ name: 'dump.sql', open: () => stream }], { target: 'postgres', signal: cancel.signal });
    await expect(cancelled).rejects.toBeInstanceOf(BackupCancelledError);
    await expect(cancelled).rejects.toThrow(/cancelled; nothing was committed/);

    const again = await reopen(loc);
    expect(await listSnapshots(again)).toEqual([]);
    expect(await listLocks(again)).toEqual([]);
    expect((await checkRepository(again, { readData: true })).errors).toEqual([]);
    // and within budget it goes through
    const ok = await backupTree(again, [dir], { target: 'files', maxBytes: 64 * 1024 * 1024, maxSeconds: 600 });
    expect(ok.snapshot.stats.files).toBe(6);
  });

  it('stops a walk of unchanged files, which reads nothing, at the file where it is cancelled', async () => {
    const { repo } = await newRepository(backend);
    const dir = tempDir();
    for (let i = 0; i < 200; i++) await fs.writeFile(path.join(dir, `f${String(i).padStart(3, '0')}.txt`), `file ${i}\n`);
    await backupTree(repo, [dir], { target: 'files' });

    const cancel = new AbortController();
    const progress = newProgress();
    let files = 0;
    Object.defineProperty(progress, 'files', {
      get: () => files,
      set: (n: number) => {
        files = n;
        if (n === 50) cancel.abort(); // the caller cancels at the 50th file
      },
    });
    await expect(backupTree(repo, [dir], { target: 'files', signal: cancel.signal, progress })).rejects.toBeInstanceOf(BackupCancelledError);
    expect(files).toBe(50); // no file counted past it (the walk does not run on to the end to find out)
    expect(await listSnapshots(repo)).toHaveLength(1);
  });
});
