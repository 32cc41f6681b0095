import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { listSnapshots } from '../../../engine';
import { backupMinio, restoreMinio, verifyMinio, type MinioProgress, type MinioSource } from '../../../engine/targets';
import { newProgress } from '../../../engine/archiver';
import { createMinioClient, readAll } from '../../../engine/storage/s3';
import { backends, newRepository, PASSPHRASE } from '../../support/backends';
import { runCli } from '../../support/cli';
import { seededBytes } from '../../support/trees';

function source(buckets: string[]): MinioSource {
  const s3 = inject('s3');
  return { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, buckets };
}

const OBJECTS: { key: string; body: Buffer; meta: Record<string, string> }[] = [
  { key: 'a', body: Buffer.from('object a'), meta: { 'Content-Type': 'text/plain' } },
  { key: 'a/b', body: Buffer.from('under a/'), meta: { 'Content-Type': 'text/plain', 'X-Amz-Meta-Owner': 'team-x' } },
  { key: 'images/2026/photo.jpg', body: seededBytes('photo', 3 * 1024 * 1024), meta: { 'Content-Type': 'image/jpeg', 'X-Amz-Meta-Camera': 'x100' } },
  { key: 'docs/ünïcode name.txt', body: Buffer.from('unicode'), meta: { 'Content-Type': 'text/plain; charset=utf-8' } },
  // (no '%' or '+' in keys here: s3rver mangles them, which MinIO and AWS S3 do not)
  { key: 'docs/odd &=,;@ chars.txt', body: Buffer.from('odd'), meta: {} },
];

async function seedBucket(): Promise<string> {
  const client = createMinioClient(source([]));
  const bucket = `src-${randomBytes(4).toString('hex')}`;
  await client.makeBucket(bucket, 'us-east-1');
  for (const o of OBJECTS) await client.putObject(bucket, o.key, o.body, o.body.length, o.meta);
  return bucket;
}

async function objectsOf(bucket: string, prefix = ''): Promise<Record<string, { body: string; type: string; meta: Record<string, string> }>> {
  const client = createMinioClient(source([]));
  const out: Record<string, { body: string; type: string; meta: Record<string, string> }> = {};
  for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<{ name: string }>) {
    const stat = await client.statObject(bucket, item.name);
    const md = stat.metaData as Record<string, string>;
    const meta = Object.fromEntries(Object.entries(md).filter(([k]) => !['content-type', 'etag', 'last-modified', 'content-length', 'x-amz-request-id'].includes(k.toLowerCase()) && !k.toLowerCase().startsWith('x-amz-')));
    out[item.name.slice(prefix.length)] = {
      body: (await readAll(await client.getObject(bucket, item.name))).toString('base64'),
      type: md['content-type'] ?? md['Content-Type'],
      meta,
    };
  }
  return out;
}

describe.each(backends)('minio target on $name storage', (backend) => {
  it('backs up objects with metadata and restores them into another bucket and prefix', async () => {
    const { repo } = await newRepository(backend);
    const bucket = await seedBucket();
    const progress: MinioProgress = { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 };
    const ref = await backupMinio(repo, source([bucket]), { progress });
    expect(progress.objectsDownloaded).toBe(OBJECTS.length);
    expect(ref.snapshot.stats.files).toBe(OBJECTS.length);

    const target = `dst-${randomBytes(4).toString('hex')}`;
    const result = await restoreMinio(repo, ref, { ...source([]), bucket: target, prefix: 'restored/' });
    expect(result.objects).toBe(OBJECTS.length);
    expect(await objectsOf(target, 'restored/')).toEqual(await objectsOf(bucket));
    expect((await verifyMinio(repo, ref, { ...source([]), bucket: target, prefix: 'restored/' })).ok).toBe(true);
  });

  it('does not download unchanged objects on an incremental backup', async () => {
    const { repo } = await newRepository(backend);
    const bucket = await seedBucket();
    await backupMinio(repo, source([bucket]));
    const again: MinioProgress = { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 };
    const second = await backupMinio(repo, source([bucket]), { progress: again });
    expect(again.objectsDownloaded).toBe(0);
    expect(again.objectsUnchanged).toBe(OBJECTS.length);
    expect(second.snapshot.stats.bytesRead).toBe(0);

    const client = createMinioClient(source([]));
    await client.putObject(bucket, 'a/b', Buffer.from('changed'), 7, { 'Content-Type': 'text/plain' });
    const third: MinioProgress = { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 };
    await backupMinio(repo, source([bucket]), { progress: third });
    expect(third.objectsDownloaded).toBe(1);
    expect(third.objectsUnchanged).toBe(OBJECTS.length - 1);
  });

  it('backs up only a prefix when asked, and names a missing bucket', async () => {
    const { repo } = await newRepository(backend);
    const bucket = await seedBucket();
    const ref = await backupMinio(repo, source([`${bucket}/docs/`]));
    expect(ref.snapshot.stats.files).toBe(2);
    expect(ref.snapshot.paths).toEqual([`${bucket}/docs/`]);
    await expect(backupMinio(repo, source(['no-such-bucket-here']))).rejects.toThrow(`bucket no-such-bucket-here does not exist at ${inject('s3').endpoint}`);
    expect((await listSnapshots(repo)).length).toBe(1);
  });
});

describe('minio through the repo CLI', () => {
  it('backs up a bucket and restores it with --verify', async () => {
    const loc = backends[0].make();
    const s3 = inject('s3');
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE, DBM_MINIO_ACCESS_KEY: s3.accessKey, DBM_MINIO_SECRET_KEY: s3.secretKey };
    await runCli(['repo', 'init'], env);
    const bucket = await seedBucket();
    const backup = await runCli(['repo', 'backup', '--minio', s3.endpoint, '--bucket', bucket, '--json'], env);
    expect(backup.code).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ target: 'minio', files: OBJECTS.length, objectsDownloaded: OBJECTS.length });
    const target = `cli-${randomBytes(4).toString('hex')}`;
    const restore = await runCli(['repo', 'restore', 'latest', '--minio', s3.endpoint, '--bucket', target, '--verify'], env);
    expect(restore.stdout).toBe(`restored ${OBJECTS.length} objects, 3.00 MiB\nverified ${OBJECTS.length} objects\n`);
    expect(Object.keys(await objectsOf(target)).sort()).toEqual(OBJECTS.map((o) => o.key).sort());
    const noKeys = await runCli(['repo', 'backup', '--minio', s3.endpoint, '--bucket', bucket], { ...loc.env, DBM_PASSPHRASE: PASSPHRASE });
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toMatch(/MinIO needs keys/);
  });
});
