import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearDeadSpoolFiles, DEAD_SPOOL_MIN_AGE_MS, spoolFileName } from '../../engine/storage/spool';
import { tempDir } from '../support/backends';

const AS_ROOT = process.getuid?.() === 0;

/** A pid no process has any more: a child's, once it exited. */
function deadPid(): number {
  const res = spawnSync('true');
  expect(res.status).toBe(0);
  return res.pid!;
}

describe('spool files left in a shared temp directory', () => {
  it("removes only a dead writer's own old files: not a live one's, a fresh one, another user's, a symlink or anything else", async () => {
    const dir = tempDir('dbm-spool-');
    const dead = deadPid();
    const old = (Date.now() - DEAD_SPOOL_MIN_AGE_MS - 60_000) / 1000;
    const file = (name: string, { age = old, bytes = 1000 }: { age?: number; bytes?: number } = {}): string => {
      const p = path.join(dir, name);
      writeFileSync(p, Buffer.alloc(bytes, 7));
      utimesSync(p, age, age);
      return p;
    };
    const hex = 'ab12'.repeat(4);
    const gone = file(`dbm-pack.tmp-${dead}-${hex}`, { bytes: 4096 });
    const kept = [
      file(`dbm-pack.tmp-${dead}-${'cd34'.repeat(4)}`, { age: Date.now() / 1000 }), // a dead pid, but touched just now (another PID namespace?)
      file(`dbm-pack.tmp-${process.pid}-${hex}`), // this process's own
      file(`dbm-pack.tmp-1-${hex}`), // pid 1 runs
      file(`dbm-pack.tmp-${dead}-short`), // not a name we give
      file(`notes-${dead}-${hex}`),
    ];
    const victim = file('victim');
    symlinkSync(victim, path.join(dir, `dbm-pack.tmp-${dead}-${'ef56'.repeat(4)}`));
    if (AS_ROOT) {
      const others = file(`dbm-pack.tmp-${dead}-${'0123'.repeat(4)}`);
      chownSync(others, 65534, 65534); // nobody's: not ours to judge
      kept.push(others);
    }

    expect(await clearDeadSpoolFiles(dir, true)).toEqual({ files: 1, bytes: 4096 });
    expect(existsSync(gone), 'a dry run removes nothing').toBe(true);
    expect(await clearDeadSpoolFiles(dir, false)).toEqual({ files: 1, bytes: 4096 });
    expect(existsSync(gone)).toBe(false);
    for (const p of kept) expect(existsSync(p), p).toBe(true);
    expect(readFileSync(victim).length, 'the symlink was not followed').toBe(1000);
    expect(existsSync(path.join(dir, `dbm-pack.tmp-${dead}-${'ef56'.repeat(4)}`))).toBe(true);
  });

  it('names each spool file after its writer', () => {
    const name = spoolFileName();
    expect(name).toMatch(new RegExp(`^dbm-pack\\.tmp-${process.pid}-[0-9a-f]{16}$`));
    expect(spoolFileName()).not.toBe(name);
  });
});
