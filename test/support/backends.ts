import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { inject } from 'vitest';
import { openStorage, Repository, type Storage } from '../../engine';
import { tempDir } from './tempDirs';

export { tempDir };

export const PASSPHRASE = 'correct horse battery staple';

/** A repository location on one backend, with the CLI flags/env that reach it. */
export interface RepoLocation {
  location: string;
  storage: Storage;
  env: Record<string, string>;
}

export interface Backend {
  name: 'local' | 's3';
  make(): RepoLocation;
}

export const localBackend: Backend = {
  name: 'local',
  make() {
    const location = path.join(tempDir(), 'repo');
    return { location, storage: openStorage(location), env: { DBM_REPOSITORY: location } };
  },
};

export const s3Backend: Backend = {
  name: 's3',
  make() {
    const s3 = inject('s3');
    // A fresh bucket (and a prefix, to prove prefixes work) per repository.
    const location = `s3://t-${randomBytes(6).toString('hex')}/repos/main`;
    return {
      location,
      storage: openStorage(location, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey }),
      env: { DBM_REPOSITORY: location, DBM_S3_ENDPOINT: s3.endpoint, DBM_S3_ACCESS_KEY: s3.accessKey, DBM_S3_SECRET_KEY: s3.secretKey },
    };
  },
};

export const backends: Backend[] = [localBackend, s3Backend];

export async function newRepository(backend: Backend): Promise<{ repo: Repository; loc: RepoLocation }> {
  const loc = backend.make();
  const repo = await Repository.init(loc.storage, { passphrase: PASSPHRASE });
  return { repo, loc };
}

/** A fresh handle on the same repository, as a second process would have. */
export function reopen(loc: RepoLocation, passphrase = PASSPHRASE): Promise<Repository> {
  return Repository.open(loc.storage, { passphrase });
}
