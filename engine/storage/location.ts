import { InvalidInputError } from '../errors';
import { LocalStorage } from './local';
import { RetryingStorage } from './retry';
import { S3Storage } from './s3';
import type { Storage } from './storage';

export interface S3Credentials {
  endpoint?: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  pathStyle?: boolean;
  /** a request that makes no progress for this long fails (and is retried); default 120 s */
  timeoutMs?: number;
}

/**
 * Opens a repository location: a local path, or `s3://bucket/prefix` with the
 * endpoint and keys given separately (so no secret ever sits in the URL).
 */
export function openStorage(location: string, s3: S3Credentials = {}): Storage {
  if (!location) throw new InvalidInputError('no repository given (use --repo or DBM_REPOSITORY)');
  if (location.startsWith('s3://')) {
    const rest = location.slice('s3://'.length);
    const [bucket, ...prefixParts] = rest.split('/');
    if (!bucket) throw new InvalidInputError(`repository ${location}: no bucket name after s3://`);
    if (!s3.endpoint) throw new InvalidInputError('S3 repository needs an endpoint (DBM_S3_ENDPOINT or --s3-endpoint)');
    try {
      new URL(s3.endpoint);
    } catch {
      throw new InvalidInputError(`S3 endpoint ${s3.endpoint} is not a URL (expected e.g. http://127.0.0.1:9000)`);
    }
    if (!s3.accessKey || !s3.secretKey) {
      throw new InvalidInputError('S3 repository needs keys (DBM_S3_ACCESS_KEY and DBM_S3_SECRET_KEY)');
    }
    return new RetryingStorage(
      new S3Storage({
        endpoint: s3.endpoint,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        bucket,
        prefix: prefixParts.join('/'),
        region: s3.region,
        pathStyle: s3.pathStyle,
        timeoutMs: s3.timeoutMs,
      }),
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new InvalidInputError(`repository ${location}: unsupported scheme (use a path or s3://bucket/prefix)`);
  }
  return new RetryingStorage(new LocalStorage(location));
}
