import { describe, expect, it } from 'vitest';
import { attachExecution, createJob, failJobOfExecution, finishJob, getJob, markRunning, recordStep } from '../../catalog/jobs';
import { listMigrations, migrate } from '../../catalog/migrate';
import { newCatalogDatabase } from '../support/catalog';

describe('the catalog', () => {
  it('applies its migrations once, even when two processes start together', async () => {
    const { pool } = await newCatalogDatabase();
    try {
      const [a, b] = await Promise.all([migrate(pool), migrate(pool)]);
      expect([...a, ...b].sort()).toEqual(listMigrations().map((m) => m.version));
      expect(await migrate(pool)).toEqual([]);
      const rows = (await pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
      expect(rows).toEqual(listMigrations().map((m) => m.version));
    } finally {
      await pool.end();
    }
  });

  it('records a job from queued to completed, with its steps', async () => {
    const { pool } = await newCatalogDatabase();
    try {
      await migrate(pool);
      const job = await createJob(pool, { kind: 'backup', type: 'full', targets: ['postgres', 'files'], description: 'Manual backup', retentionDays: 30 });
      expect(job).toMatchObject({ status: 'queued', targets: ['postgres', 'files'], retention_days: 30 });
      await attachExecution(pool, job.id, '42');
      expect(await markRunning(pool, job.id)).toBe(true);
      await recordStep(pool, job.id, { target: 'postgres', status: 'completed', snapshot_id: 'ab'.repeat(32), bytes_read: 1000, bytes_added: 400 });
      await recordStep(pool, job.id, { target: 'files', status: 'completed', snapshot_id: 'cd'.repeat(32), bytes_read: 50, bytes_added: 0 });
      expect(await finishJob(pool, job.id, { status: 'completed' })).toBe(true);
      const done = await getJob(pool, job.id);
      expect(done).toMatchObject({ status: 'completed', progress: 1, n8n_execution_id: '42', error: null });
      expect(done!.steps.map((s) => [s.target, s.status, s.bytes_added])).toEqual([['postgres', 'completed', 400], ['files', 'completed', 0]]);
      expect(done!.started_at).not.toBeNull();
      expect(done!.finished_at).not.toBeNull();
    } finally {
      await pool.end();
    }
  });

  it('fails the job of a failed execution, and a late success never hides the failure', async () => {
    const { pool } = await newCatalogDatabase();
    try {
      await migrate(pool);
      const job = await createJob(pool, { kind: 'backup', targets: ['postgres'] });
      await attachExecution(pool, job.id, '77');
      await markRunning(pool, job.id);
      expect(await failJobOfExecution(pool, '77', 'database "x" does not exist')).toBe(job.id);
      expect(await finishJob(pool, job.id, { status: 'completed' })).toBe(false);
      expect(await markRunning(pool, job.id)).toBe(false);
      expect(await getJob(pool, job.id)).toMatchObject({ status: 'failed', error: 'database "x" does not exist' });
      expect(await failJobOfExecution(pool, 'no-such-execution', 'x')).toBeNull();
      await expect(createJob(pool, { kind: 'backup', retentionDays: 0 })).rejects.toThrow(/check constraint/);
    } finally {
      await pool.end();
    }
  });
});
