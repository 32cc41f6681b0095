import type { MinioSource } from '../../engine/targets/minio';
import { parsePgUrl, type PgConnection } from '../../engine/targets/postgres/connection';
import { UsageError } from '../exitCodes';

/** A PostgreSQL URL from --postgres; the password may come from PGPASSWORD instead of the URL. */
export function pgConnectionFrom(url: string): PgConnection {
  return parsePgUrl(url);
}

/** MinIO/S3 source or destination: endpoint from the flag, keys from flags or DBM_MINIO_ACCESS_KEY / DBM_MINIO_SECRET_KEY. */
export function minioFrom(endpoint: string, opts: { minioAccessKey?: string; minioSecretKey?: string; minioRegion?: string }, buckets: string[] = []): MinioSource {
  try {
    new URL(endpoint);
  } catch {
    throw new UsageError(`--minio ${endpoint} is not a URL (expected e.g. http://127.0.0.1:9000)`);
  }
  const accessKey = opts.minioAccessKey ?? process.env.DBM_MINIO_ACCESS_KEY;
  const secretKey = opts.minioSecretKey ?? process.env.DBM_MINIO_SECRET_KEY;
  if (!accessKey || !secretKey) throw new UsageError('MinIO needs keys: DBM_MINIO_ACCESS_KEY and DBM_MINIO_SECRET_KEY (or --minio-access-key, --minio-secret-key)');
  return { endpoint, accessKey, secretKey, region: opts.minioRegion ?? process.env.DBM_MINIO_REGION, buckets };
}
