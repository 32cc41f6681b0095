import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { RepositoryLockedError } from '../errors';
import { listAll } from '../storage/storage';
import { LOCKS_PREFIX, lockKey } from './layout';
import type { Repository } from './repository';

/**
 * Repository locks, as restic keeps them: an object under `locks/` per
 * holder. Backups, restores and checks take shared locks and run side by
 * side; prune and key rotation take an exclusive one. A lock is stale when
 * its holder stopped refreshing it (a lease: the only test for another
 * host's lock, as when a worker of another machine died), or when it was
 * taken on this very machine since its last boot by a process that no longer
 * exists (a killed backup); stale locks are removed.
 */
export interface LockInfo {
  exclusive: boolean;
  hostname: string;
  /**
   * where its pid means something: this kernel since its last boot, and this pid namespace (containers on one
   * kernel share the boot id, not their pids); hostnames repeat across containers and hosts
   */
  hostId?: string;
  username: string;
  pid: number;
  time: string;
  operation: string;
}

export interface LockOptions {
  exclusive: boolean;
  operation: string;
  /** How long to keep trying while another process holds a conflicting lock (ms). */
  waitMs?: number;
}

const REFRESH_MS = 5 * 60 * 1000;
export const STALE_MS = 30 * 60 * 1000;
const LOCK_AAD = 'dbm-lock';

export class RepositoryLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;

  constructor(private readonly repo: Repository, readonly key: string, private info: LockInfo) {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    if (this.released) return;
    this.info = { ...this.info, time: new Date().toISOString() };
    await writeLock(this.repo, this.key, this.info).catch(() => undefined);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.repo.storage.delete(this.key);
  }
}

function writeLock(repo: Repository, key: string, info: LockInfo): Promise<unknown> {
  return repo.putSealed(() => key, info, LOCK_AAD);
}

export function isStale(info: LockInfo, now = Date.now()): boolean {
  if (now - Date.parse(info.time) > STALE_MS) return true;
  // locks written before hostId was recorded: their hostname, as then
  const here = info.hostId !== undefined ? info.hostId === hostId() : info.hostname === hostname();
  if (here && info.pid !== process.pid) {
    try {
      process.kill(info.pid, 0);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  return false;
}

/** Every lock in the repository, with its holder; unreadable locks count as stale. */
export async function listLocks(repo: Repository): Promise<{ key: string; info: LockInfo | null }[]> {
  const objects = await listAll(repo.storage, LOCKS_PREFIX);
  return Promise.all(
    objects.map(async (o) => ({
      key: o.key,
      info: await repo.getSealed<LockInfo>(o.key, LOCK_AAD, 'lock').catch(() => null),
    })),
  );
}

/** Removes stale locks; returns how many. */
export async function removeStaleLocks(repo: Repository): Promise<number> {
  let removed = 0;
  for (const lock of await listLocks(repo)) {
    if (!lock.info || isStale(lock.info)) {
      await repo.storage.delete(lock.key);
      removed++;
    }
  }
  return removed;
}

async function conflicting(repo: Repository, ownKey: string | null, exclusive: boolean): Promise<LockInfo | null> {
  for (const lock of await listLocks(repo)) {
    if (lock.key === ownKey) continue;
    if (!lock.info || isStale(lock.info)) {
      await repo.storage.delete(lock.key);
      continue;
    }
    if (exclusive || lock.info.exclusive) return lock.info;
  }
  return null;
}

function describe(info: LockInfo): string {
  const kind = info.exclusive ? 'an exclusive' : 'a shared';
  return `repository is locked: ${kind} lock held by ${info.operation} (pid ${info.pid} on ${info.hostname}, since ${info.time})`;
}

/**
 * Takes a lock: look for conflicts, write ours, look again (two writers that
 * raced both see each other and back off), retrying until `waitMs` passes.
 */
export async function acquireLock(repo: Repository, opts: LockOptions): Promise<RepositoryLock> {
  const deadline = Date.now() + (opts.waitMs ?? repo.lockWaitMs);
  let delay = 250;
  for (;;) {
    let holder = await conflicting(repo, null, opts.exclusive);
    if (!holder) {
      const key = lockKey(randomBytes(16).toString('hex'));
      const info: LockInfo = {
        exclusive: opts.exclusive,
        hostname: hostname(),
        hostId: hostId(),
        username: safeUser(),
        pid: process.pid,
        time: new Date().toISOString(),
        operation: opts.operation,
      };
      await writeLock(repo, key, info);
      holder = await conflicting(repo, key, opts.exclusive);
      if (!holder) return new RepositoryLock(repo, key, info);
      await repo.storage.delete(key);
    }
    if (Date.now() + delay > deadline) throw new RepositoryLockedError(describe(holder));
    await sleep(delay + Math.random() * 100);
    delay = Math.min(delay * 2, 5000);
  }
}

/** Runs fn under a lock and always releases it. */
export async function withLock<T>(repo: Repository, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(repo, opts);
  repo.beginOperation();
  let failed = true;
  try {
    const result = await fn();
    failed = false;
    return result;
  } finally {
    await repo.endOperation(failed).catch(() => undefined);
    await lock.release().catch(() => undefined);
  }
}

let pidSpace: string | undefined;

/** Where this process's pid means something (see LockInfo.hostId). */
export function hostId(): string {
  if (pidSpace === undefined) {
    try {
      pidSpace = `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      // no /proc: nothing proves a pid is ours to check, so only the lease decides
      pidSpace = `unknown-${randomBytes(8).toString('hex')}`;
    }
  }
  return pidSpace;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
