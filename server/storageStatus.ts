import { statfs } from 'node:fs/promises';
import type { Pool } from 'pg';
import { repositoryStats, type Repository, type RepositoryStats } from '../engine';
import { pitrWindow, walClusters, type PitrWindow } from '../engine/targets';

export interface StorageStatus {
  repository: (RepositoryStats & { location: string }) | null;
  repository_error?: string;
  /** data the backups read, against what they added after dedup, and what that took stored */
  totals: { bytes_read: number; bytes_added: number; bytes_stored: number; dedup_ratio: number | null; compression_ratio: number | null };
  /** bytes stored by backups: totals, and per day for the last 30 days (oldest first, days without backups included) */
  growth: { last_24h: number; last_7d: number; last_30d: number; daily: { day: string; bytes_stored: number }[] };
  filesystem: { free_bytes: number; total_bytes: number } | null;
  capacity_bytes: number | null;
  warnings: string[];
}

/**
 * Storage status: the repository's size and object counts (listed, cached a
 * while since listing a bucket is slow), dedup and compression from the
 * catalog's steps, growth, and capacity warnings.
 */
export class StorageMonitor {
  private cached: { at: number; stats: RepositoryStats } | null = null;

  constructor(
    private readonly catalog: Pool,
    private readonly open: (() => Promise<Repository>) | undefined,
    private readonly opts: { capacityBytes?: number; localPath?: string; location?: string; ttlMs?: number } = {},
  ) {}

  async repositoryStats(): Promise<RepositoryStats> {
    if (!this.open) throw new Error('the server was started without the repository');
    if (this.cached && Date.now() - this.cached.at < (this.opts.ttlMs ?? 30_000)) return this.cached.stats;
    const stats = await repositoryStats(await this.open());
    this.cached = { at: Date.now(), stats };
    return stats;
  }

  private pitrCached: { at: number; windows: PitrWindow[] } | null = null;

  /** Every archived cluster's point-in-time window (listing WAL and reading a segment: cached a minute). */
  async pitrWindows(): Promise<PitrWindow[]> {
    if (!this.open) return [];
    if (this.pitrCached && Date.now() - this.pitrCached.at < 60_000) return this.pitrCached.windows;
    const repo = await this.open();
    const windows: PitrWindow[] = [];
    for (const cluster of await walClusters(repo)) windows.push(await pitrWindow(repo, cluster));
    this.pitrCached = { at: Date.now(), windows };
    return windows;
  }

  async status(): Promise<StorageStatus> {
    let repository: StorageStatus['repository'] = null;
    let repositoryError: string | undefined;
    try {
      repository = { location: this.opts.location ?? '', ...(await this.repositoryStats()) };
    } catch (err) {
      repositoryError = (err as Error).message;
    }
    const t = (
      await this.catalog.query<{ read: number; added: number; stored: number; d1: number; d7: number; d30: number }>(
        `SELECT coalesce(sum(bytes_read), 0)::float8 AS read, coalesce(sum(bytes_added), 0)::float8 AS added,
                coalesce(sum(bytes_stored), 0)::float8 AS stored,
                coalesce(sum(bytes_stored) FILTER (WHERE recorded_at > now() - interval '1 day'), 0)::float8 AS d1,
                coalesce(sum(bytes_stored) FILTER (WHERE recorded_at > now() - interval '7 days'), 0)::float8 AS d7,
                coalesce(sum(bytes_stored) FILTER (WHERE recorded_at > now() - interval '30 days'), 0)::float8 AS d30
           FROM job_steps JOIN jobs ON jobs.id = job_steps.job_id WHERE jobs.kind = 'backup' AND job_steps.status = 'completed'`,
      )
    ).rows[0];
    const daily = (
      await this.catalog.query<{ day: string; bytes_stored: number }>(
        `SELECT to_char(d.day, 'YYYY-MM-DD') AS day, coalesce(sum(s.bytes_stored), 0)::float8 AS bytes_stored
           FROM generate_series(current_date - 29, current_date, interval '1 day') AS d (day)
           LEFT JOIN job_steps s ON s.recorded_at >= d.day AND s.recorded_at < d.day + interval '1 day' AND s.status = 'completed'
                AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.job_id AND j.kind = 'backup')
          GROUP BY d.day ORDER BY d.day`,
      )
    ).rows;
    let filesystem: StorageStatus['filesystem'] = null;
    if (this.opts.localPath) {
      try {
        const fs = await statfs(this.opts.localPath);
        filesystem = { free_bytes: fs.bavail * fs.bsize, total_bytes: fs.blocks * fs.bsize };
      } catch {
        filesystem = null;
      }
    }
    const warnings: string[] = [];
    const used = repository?.bytes ?? 0;
    const capacity = this.opts.capacityBytes ?? null;
    if (capacity && used > capacity * 0.8) warnings.push(`the repository uses ${pct(used, capacity)} of its ${gib(capacity)} allowance`);
    if (filesystem && filesystem.free_bytes < filesystem.total_bytes * 0.1) {
      warnings.push(`the repository's filesystem has ${gib(filesystem.free_bytes)} free (${pct(filesystem.free_bytes, filesystem.total_bytes)})`);
    }
    if (filesystem && t.d7 > 0 && filesystem.free_bytes < (t.d7 / 7) * 14) {
      warnings.push(`at the last week's growth (${gib(t.d7)}), the filesystem fills within two weeks`);
    }
    if (repositoryError) warnings.push(`the repository cannot be read: ${repositoryError}`);
    return {
      repository,
      ...(repositoryError ? { repository_error: repositoryError } : {}),
      totals: {
        bytes_read: t.read,
        bytes_added: t.added,
        bytes_stored: t.stored,
        dedup_ratio: t.added > 0 ? round(t.read / t.added) : null,
        compression_ratio: t.stored > 0 ? round(t.added / t.stored) : null,
      },
      growth: { last_24h: t.d1, last_7d: t.d7, last_30d: t.d30, daily },
      filesystem,
      capacity_bytes: capacity,
      warnings,
    };
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
const pct = (a: number, b: number): string => `${Math.round((a / b) * 100)} %`;
