import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** This test file's temporary directories (vitest gives each file its own modules). */
const made: string[] = [];

/** A new directory under the system's temp directory, removed after the test file (see removeTempDirs). */
export function tempDir(prefix = 'dbm-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Removes the file's temporary directories once its own hooks have stopped
 * what ran in them (clusters, n8n, servers). A whole run left ~6 GB in /tmp
 * before (PostgreSQL clusters, WAL archives, repositories): a few runs filled
 * a disk. DBM_TEST_KEEP_TMP=1 keeps them, to look at after a failure.
 */
export async function removeTempDirs(): Promise<void> {
  if (process.env.DBM_TEST_KEEP_TMP === '1') return;
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => removeDeep(dir))));
}

/** GNU rm walks by descriptor, so it also removes what lies deeper than a path can name (ENAMETOOLONG for Node's rm). */
function removeDeep(dir: string): void {
  spawnSync('rm', ['-rf', '--', dir], { stdio: 'ignore' });
}
