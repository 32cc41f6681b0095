import { describe, expect, it } from 'vitest';
import { hostId } from '../../engine/repository/lock';
import { joinRefusal, type JoinFile } from '../../stack/worker';

const join = (over: { hostId?: string; repository?: string; catalog?: string; redis?: string; db?: string }): JoinFile => ({
  version: 1,
  host: { name: 'main-host', id: over.hostId ?? 'another-machine/pid:[1]' },
  catalogUrl: `postgresql://u:p@${over.catalog ?? 'db.internal'}:5432/backup_catalog`,
  queue: {
    redisUrl: `redis://:pw@${over.redis ?? 'redis.internal'}:6379`,
    database: { host: over.db ?? 'db.internal', port: 5432, user: 'u', password: 'p', name: 'n8n' },
    encryptionKey: 'k',
  },
  repository: over.repository ?? 's3://backups/main',
  env: {},
});

describe('which hosts may join a stack as workers', () => {
  it("the main stack's own machine always", () => {
    expect(joinRefusal(join({ hostId: hostId(), repository: '/srv/repo', catalog: '127.0.0.1', redis: '127.0.0.1', db: '127.0.0.1' }))).toBeNull();
  });

  it('another host: with an S3 repository and servers it can reach', () => {
    expect(joinRefusal(join({}))).toBeNull();
  });

  it("another host: not with a local repository of the main host, unless every host mounts it", () => {
    expect(joinRefusal(join({ repository: '/srv/repo' }))).toMatch(/^the repository \/srv\/repo is a local directory of main-host: workers on other hosts need an S3 repository/);
    expect(joinRefusal(join({ repository: '/srv/repo' }), { sharedPath: true })).toBeNull();
  });

  it("another host: not when the catalog, n8n's database or Redis listen on the main host's loopback", () => {
    expect(joinRefusal(join({ redis: '127.0.0.1' }))).toBe('Redis of main-host listen on its loopback only: start the main stack with DATABASE_URL and DBM_REDIS_URL on servers this host reaches');
    expect(joinRefusal(join({ catalog: 'localhost', db: 'localhost' }))).toMatch(/^the catalog, n8n's database of main-host listen on its loopback only/);
  });
});
