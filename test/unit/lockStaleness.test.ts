import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostId, isStale, STALE_MS, type LockInfo } from '../../engine/repository/lock';

/** A pid that existed and is gone now. */
function deadPid(): number {
  return spawnSync('true').pid!;
}

const lock = (over: Partial<LockInfo>): LockInfo => ({
  exclusive: false,
  hostname: hostname(),
  username: 'root',
  pid: deadPid(),
  time: new Date().toISOString(),
  operation: 'backup',
  ...over,
});

describe('repository lock staleness', () => {
  it('a fresh lock of a dead process in this pid space is stale', () => {
    expect(isStale(lock({ hostId: hostId() }))).toBe(true);
    expect(isStale(lock({ hostId: hostId(), pid: process.ppid }))).toBe(false); // alive
  });

  it("another machine's (or container's) lock is judged by its lease only, even under our hostname", () => {
    const elsewhere = lock({ hostId: 'another-boot/pid:[1]' });
    expect(isStale(elsewhere)).toBe(false);
    expect(isStale(elsewhere, Date.now() + STALE_MS + 1000)).toBe(true);
  });

  it('a lock written before host ids were recorded is checked by hostname, as then', () => {
    expect(isStale(lock({}))).toBe(true);
    expect(isStale(lock({ hostname: 'some-other-host' }))).toBe(false);
  });
});
