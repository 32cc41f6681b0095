import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Pool } from 'pg';

/**
 * Mirrors the catalog's job log to data/logs/jobs/<job-id>.log. Job lines are
 * written by whoever runs the job (the nodes in n8n, the API), into the
 * catalog; this follows the table and appends, remembering how far it got so
 * a restart neither loses nor repeats lines.
 */
export class JobLogFiles {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly positionFile: string;

  constructor(
    private readonly catalog: Pool,
    private readonly dir: string,
    private readonly intervalMs = 1000,
  ) {
    mkdirSync(dir, { recursive: true });
    this.positionFile = path.join(dir, '.position');
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.flush()
        .then(() => undefined, () => undefined)
        .finally(() => {
          this.running = null;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.flush().catch(() => undefined);
  }

  /** Appends every line newer than the last one written. */
  async flush(): Promise<number> {
    let position = this.position();
    let written = 0;
    for (;;) {
      const rows = (
        await this.catalog.query<{ id: string; job_id: string; at: Date; level: string; message: string }>(
          'SELECT id::text, job_id, at, level, message FROM job_log WHERE id > $1 ORDER BY id LIMIT 1000',
          [position],
        )
      ).rows;
      if (rows.length === 0) return written;
      const byJob = new Map<string, string[]>();
      for (const r of rows) {
        if (!/^[A-Za-z0-9_.-]{1,200}$/.test(r.job_id) || r.job_id.startsWith('.')) continue; // never a path outside the folder
        byJob.set(r.job_id, [...(byJob.get(r.job_id) ?? []), `${r.at.toISOString()} ${r.level.toUpperCase().padEnd(5)} ${r.message}\n`]);
      }
      for (const [job, lines] of byJob) appendFileSync(path.join(this.dir, `${job}.log`), lines.join(''));
      position = rows[rows.length - 1].id;
      writeFileSync(this.positionFile, position);
      written += rows.length;
    }
  }

  private position(): string {
    try {
      return readFileSync(this.positionFile, 'utf8').trim() || '0';
    } catch {
      return '0';
    }
  }
}
