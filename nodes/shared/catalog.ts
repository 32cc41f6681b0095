import { NodeOperationError, type ICredentialDataDecryptedObject, type IDataObject, type IExecuteFunctions } from 'n8n-workflow';
import { hostname } from 'node:os';
import { Pool } from 'pg';
import { appendJobLog, ensureJob, recordStep, reportLive } from '../../catalog/jobs';
import { migrate } from '../../catalog/migrate';
import { lockSource, type SameSourcePolicy } from '../../catalog/sourceLocks';
import { LOCK_WAIT_MS } from './repository';

/** A new connection pool to the catalog a credential names, its schema brought up to date (the caller ends it). */
export async function openCatalog(creds: ICredentialDataDecryptedObject): Promise<Pool> {
  const pool = catalogPool(creds);
  await migrate(pool);
  return pool;
}

/**
 * This n8n process, as the catalog records who ran a job: the stack names
 * each (`main@host`, `worker-2@host`); an n8n the stack did not start is its
 * host and pid.
 */
export function runnerName(): string {
  return process.env.DBM_RUNNER || `${hostname()}/${process.pid}`;
}

const shared = new Map<string, Promise<Pool>>();

/**
 * The catalog pool for a credential, shared by every node and item in this
 * n8n process and migrated once, when first opened (not per item). Idle
 * connections close after 10 s; the pool itself lives as long as n8n.
 */
export function sharedCatalog(creds: ICredentialDataDecryptedObject): Promise<Pool> {
  const key = JSON.stringify(['host', 'port', 'database', 'user', 'password', 'sslmode'].map((k) => creds[k] ?? null));
  let pool = shared.get(key);
  if (!pool) {
    pool = openCatalog(creds);
    shared.set(key, pool);
    pool.catch(() => shared.delete(key)); // a catalog down now may be up for the next item
  }
  return pool;
}

/** DBM_SAME_SOURCE: a second backup of a running source waits for it (the default) or is refused. */
function sameSourcePolicy(): SameSourcePolicy {
  return process.env.DBM_SAME_SOURCE === 'refuse' ? 'refuse' : 'wait';
}

/**
 * Runs a backup step while no other backup of the same source runs, in any
 * n8n process or host sharing the catalog (see catalog/sourceLocks.ts). The
 * lock lives on a connection of its own for the whole step; a job that waits
 * says so in its log. Without a catalog credential there is nothing shared
 * to lock in, and the step just runs.
 */
export async function withSourceLock<T>(ctx: IExecuteFunctions, itemIndex: number, source: string, work: () => Promise<T>): Promise<T> {
  if (!ctx.getNode().credentials?.dbmCatalogApi) return work();
  const creds = await ctx.getCredentials('dbmCatalogApi', itemIndex);
  const catalog = await sharedCatalog(creds); // migrated
  const jobId = String(ctx.getNodeParameter('jobId', itemIndex, '') ?? '') || null;
  const own = catalogPool(creds, 1);
  const client = await own.connect();
  try {
    const unlock = await lockSource(client, source, { jobId, runner: runnerName() }, {
      policy: sameSourcePolicy(),
      waitMs: LOCK_WAIT_MS,
      onWait: async (holder) => {
        if (jobId) await appendJobLog(catalog, jobId, 'warn', `waiting: ${holder} is backing up ${source}`);
      },
    }).catch((err: Error) => {
      throw new NodeOperationError(ctx.getNode(), err.message, { itemIndex });
    });
    try {
      return await work();
    } finally {
      await unlock().catch(() => undefined); // the connection's end below lets go of it anyway
    }
  } finally {
    client.release();
    await own.end();
  }
}

function catalogPool(creds: ICredentialDataDecryptedObject, max = 2): Pool {
  const sslmode = String(creds.sslmode ?? 'disable');
  const pool = new Pool({
    host: String(creds.host ?? 'localhost'),
    port: Number(creds.port ?? 5432),
    database: String(creds.database ?? 'backup_catalog'),
    user: String(creds.user ?? 'postgres'),
    password: creds.password ? String(creds.password) : undefined,
    ssl: sslmode === 'disable' || sslmode === 'prefer' ? false : { rejectUnauthorized: sslmode === 'verify-full' },
    max,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => undefined);
  return pool;
}

/**
 * What a backup node does with an optional job id: records its snapshot as a
 * step of that job in the catalog. Without a job id it does nothing; with one
 * but no catalog credential, that is the user's mistake and says so.
 */
export async function reportStep(
  ctx: IExecuteFunctions,
  itemIndex: number,
  snapshot: IDataObject, // snapshotJson's output
): Promise<boolean> {
  const jobId = String(ctx.getNodeParameter('jobId', itemIndex, '') ?? '');
  if (!jobId) return false;
  if (!ctx.getNode().credentials?.dbmCatalogApi) {
    throw new NodeOperationError(ctx.getNode(), `job ID ${jobId} is given but the node has no Backup Catalog credential`, { itemIndex });
  }
  const creds = await ctx.getCredentials('dbmCatalogApi', itemIndex);
  const pool = await sharedCatalog(creds);
  await ensureJob(pool, jobId, 'backup', { targets: [String(snapshot.target)] });
  await recordStep(pool, jobId, {
    target: String(snapshot.target),
    status: 'completed',
    snapshot_id: String(snapshot.snapshotId),
    bytes_read: Number(snapshot.bytesRead),
    bytes_added: Number(snapshot.bytesAdded),
    bytes_stored: Number(snapshot.bytesStored),
    duration_ms: Number(snapshot.durationMs),
  });
  return true;
}

/**
 * Runs `work` while a backup node works on an item of a job: its progress (bytes read, files) goes to the
 * catalog every few seconds, so `backup --wait` and the API show it moving. Without a job id or a
 * catalog credential nothing is reported.
 */
export async function withProgress<T>(
  ctx: IExecuteFunctions,
  itemIndex: number,
  target: string,
  progress: { bytesRead: number; files: number },
  work: () => Promise<T>,
): Promise<T> {
  const stop = await reportProgress(ctx, itemIndex, target, progress);
  try {
    return await work();
  } finally {
    await stop();
  }
}

async function reportProgress(ctx: IExecuteFunctions, itemIndex: number, target: string, progress: { bytesRead: number; files: number }, everyMs = 3000): Promise<() => Promise<void>> {
  const jobId = String(ctx.getNodeParameter('jobId', itemIndex, '') ?? '');
  if (!jobId || !ctx.getNode().credentials?.dbmCatalogApi) return async () => undefined;
  const pool = await sharedCatalog(await ctx.getCredentials('dbmCatalogApi', itemIndex));
  let sent = -1;
  let pending: Promise<void> = Promise.resolve();
  const send = (): void => {
    if (progress.bytesRead === sent) return;
    sent = progress.bytesRead;
    // a report that cannot be written never fails the backup
    pending = reportLive(pool, jobId, target, { bytes_read: progress.bytesRead, files: progress.files }).catch(() => undefined);
  };
  const timer = setInterval(send, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    send();
    await pending;
  };
}
