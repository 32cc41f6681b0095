import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, backupTree, RepositoryLockedError } from '../../engine';
import { localBackend, newRepository, tempDir } from '../support/backends';

describe("a repository's default lock wait (what the n8n nodes set, DBM_LOCK_WAIT_SECONDS)", () => {
  it('fails at once by default, and waits out a prune-like exclusive lock when given a wait', async () => {
    const { repo } = await newRepository(localBackend);
    const src = path.join(tempDir(), 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'a');
    const held = await acquireLock(repo, { exclusive: true, operation: 'prune' });
    await expect(backupTree(repo, [src], { target: 'files' })).rejects.toThrow(RepositoryLockedError);
    repo.lockWaitMs = 60_000;
    const waiting = backupTree(repo, [src], { target: 'files' });
    setTimeout(() => void held.release(), 1500); // the prune ends
    const ref = await waiting;
    expect(ref.snapshot.stats.files).toBe(1);
  }, 90_000);
});
