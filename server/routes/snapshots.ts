import { Hono } from 'hono';
import { z } from 'zod/v4';
import { findSnapshot, InvalidInputError, listSnapshotDir, listSnapshots, NotFoundError, openSnapshotFile, RepositoryLockedError, type Repository, type SnapshotRef } from '../../engine';
import { requireRole } from '../auth';
import { cached } from '../cached';
import type { AppDeps, AppEnv } from '../context';
import { describe, queryOf } from '../describe';
import { ApiError } from '../errors';
import { targetEnum } from '../targetFields';

const listQuery = z.object({ target: targetEnum().optional(), limit: z.coerce.number().int().min(1).max(1000).default(200) }).strict();
const pathQuery = z.object({ path: z.string().max(4096).default('/') }).strict();

function snapshotIdParam(id: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(id)) throw new ApiError(400, `snapshot id ${JSON.stringify(id.slice(0, 100))} is malformed (8 to 64 hex digits)`, 'id');
  return id;
}

/** Engine refusals as the API's: what is not there is a 404, a bad path or id a 400 naming it, a repository being pruned a 409. */
function asApiError(err: unknown, field: 'id' | 'path'): unknown {
  if (err instanceof NotFoundError) return new ApiError(404, err.message);
  if (err instanceof InvalidInputError) return new ApiError(400, err.message, field);
  if (err instanceof RepositoryLockedError) return new ApiError(409, `${err.message}; try again when it is done`); // a prune
  return err;
}

/** A snapshot as the API shows it: what it is, what it holds, and what a restore of it can name. */
function summary({ id, snapshot: s }: SnapshotRef): Record<string, unknown> {
  return {
    id,
    target: s.target,
    type: s.type,
    kind: s.kind,
    time: s.time,
    hostname: s.hostname,
    paths: s.paths,
    job_id: s.tags.job ?? null,
    parent: s.parent,
    // the databases of a dump, the cluster of a base backup
    ...(Array.isArray(s.meta?.databases) ? { databases: (s.meta.databases as { name: string }[]).map((d) => d.name) } : {}),
    ...(s.tags.cluster ? { cluster: s.tags.cluster } : {}),
    stats: { files: s.stats.files, total_size: s.stats.totalSize, bytes_read: s.stats.bytesRead, bytes_added: s.stats.bytesAdded, bytes_stored: s.stats.bytesStored, duration_ms: s.stats.durationMs },
  };
}

/**
 * `/api/v1/snapshots`: what the repository holds, read from the repository
 * itself (the catalog's cache is only as fresh as its last rebuild): the
 * snapshots, a directory of one, and one file's bytes. Listing is for every
 * role; a file's content is data, so downloading it needs the operator role
 * (as a restore does) and is audited.
 */
export function snapshotRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const repository = (): Promise<Repository> => {
    if (!deps.repository) throw new ApiError(503, 'the server was started without the repository');
    return deps.repository.open().catch((err: Error) => {
      throw new ApiError(503, `the repository cannot be opened: ${err.message}`);
    });
  };
  // a handle of its own whose index is read again only once backups or prunes changed it (a listing at most every 2 s)
  let handle: Repository | null = null;
  const current = cached(2000, async () => (handle = await (handle ?? (await repository()).fresh()).current()));
  const manifests = new Map<string, SnapshotRef>(); // read once each: a listing reads only new ones
  const all = cached(2000, async () => listSnapshots(await current(), {}, manifests));
  const snapshot = async (id: string): Promise<{ repo: Repository; ref: SnapshotRef }> => {
    const repo = await current();
    try {
      return { repo, ref: await findSnapshot(repo, snapshotIdParam(id)) };
    } catch (err) {
      throw asApiError(err, 'id');
    }
  };

  app.get('/', describe({ operationId: 'listSnapshots', summary: 'Snapshots, newest first, with what each read, added and stored', answers: 'json' }), requireRole('viewer'), queryOf(listQuery), async (c) => {
    const q = c.req.valid('query');
    const refs = (await all()).filter((r) => !q.target || r.snapshot.target === q.target);
    return c.json({
      total: refs.length,
      snapshots: refs
        .slice(-q.limit)
        .reverse()
        .map(summary),
    });
  });

  app.get('/:id/tree', describe({ operationId: 'listSnapshotDirectory', summary: "One directory of a snapshot (its root by default): names, types, sizes, times", answers: 'json', params: { id: 'snapshot id (8 or more hex digits)' } }), requireRole('viewer'), queryOf(pathQuery), async (c) => {
    const { repo, ref } = await snapshot(c.req.param('id'));
    const dir = c.req.valid('query').path;
    try {
      return c.json({ snapshot: summary(ref), path: dir, entries: await listSnapshotDir(repo, ref, dir) });
    } catch (err) {
      throw asApiError(err, 'path');
    }
  });

  app.get('/:id/file', describe({ operationId: 'downloadSnapshotFile', summary: "One file's content, as it was backed up (audited)", answers: 'file', params: { id: 'snapshot id (8 or more hex digits)' } }), requireRole('operator'), queryOf(pathQuery), async (c) => {
    const { repo, ref } = await snapshot(c.req.param('id'));
    const file = c.req.valid('query').path;
    let opened: Awaited<ReturnType<typeof openSnapshotFile>>;
    try {
      opened = await openSnapshotFile(repo, ref, file);
    } catch (err) {
      throw asApiError(err, 'path');
    }
    c.set('audit', { download: file, snapshot: ref.id, bytes: opened.node.size }); // a read of data, audited as a write is
    const { content, close } = opened;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await content.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          // headers are sent: a broken connection is all the client can be told
          deps.log?.error({ err: (err as Error).message, snapshot: ref.id, path: file }, 'download failed');
          controller.error(err);
          await close();
        }
      },
      async cancel() {
        await content.return(undefined);
        await close();
      },
    });
    const name = opened.node.name.replace(/[^\w.-]/g, '_') || 'file';
    return new Response(body, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(opened.node.size),
        'content-disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(opened.node.name)}`,
        'x-content-type-options': 'nosniff',
      },
    });
  });
  return app;
}
