import type { Pool } from 'pg';
import type { SnapshotRef } from '../engine';

/**
 * The catalog's cache of the repository's snapshot manifests. The repository
 * is the truth; `catalog rebuild` makes the cache match it exactly.
 */
export async function rebuildSnapshotCache(db: Pool, refs: SnapshotRef[]): Promise<{ cached: number; removed: number }> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const ids = refs.map((r) => r.id);
    const removed = (await client.query('DELETE FROM snapshots WHERE NOT (id = ANY ($1))', [ids])).rowCount ?? 0;
    for (const { id, snapshot: s } of refs) {
      await client.query(
        `INSERT INTO snapshots (id, target, type, time, hostname, tags, paths, stats, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET target = $2, type = $3, time = $4, hostname = $5, tags = $6, paths = $7, stats = $8, job_id = $9, cached_at = now()`,
        [id, s.target, s.type, s.time, s.hostname, s.tags, JSON.stringify(s.paths), s.stats, s.tags.job ?? null],
      );
    }
    await client.query('COMMIT');
    return { cached: refs.length, removed };
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

export async function cachedSnapshots(db: Pool, target?: string): Promise<{ id: string; target: string; type: string; time: Date; job_id: string | null; stats: Record<string, number> }[]> {
  return (
    await db.query(
      `SELECT id, target, type, time, job_id, stats FROM snapshots ${target ? 'WHERE target = $1' : ''} ORDER BY time DESC LIMIT 1000`,
      target ? [target] : [],
    )
  ).rows;
}
