import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { PathPolicy, Repository, Storage } from '../engine';
import type { Role } from '../catalog/tokens';
import type { WorkflowEndpoint } from './n8n/trigger';
import type { N8nClient } from '../stack/n8n';
import type { ProvisionedStack } from '../stack/provision';

/** Who is calling: the token's id, name and role. */
export interface Actor {
  id: string;
  name: string;
  role: Role;
}

/** Hono's typed context for every route: the authenticated caller. */
export interface AppEnv {
  Variables: { actor: Actor };
}

/** What the API needs of the installation it controls. */
export interface AppDeps {
  catalog: Pool;
  /** the on-demand workflows' webhooks */
  n8n: WorkflowEndpoint;
  /** n8n's public API, for schedules; absent when the server runs without it */
  n8nApi?: { client: N8nClient; provisioned: ProvisionedStack };
  /** the repository, for health, storage status and `catalog rebuild`; absent when unknown */
  repository?: RepositoryAccess;
  /** what a request leaves out */
  defaults?: {
    /** files to back up when a request names none */
    paths?: string[];
    /** the scenarios root */
    scenariosRoot?: string;
    /** buckets for the minio target */
    buckets?: string[];
    /** the cluster name a postgres-cluster base backup is taken under */
    cluster?: string;
    /** where restored files go when a request names no directory */
    restoreDir?: string;
  };
  /** what jobs may read and write on this host (default: the default paths and restore directory only) */
  policy?: PathPolicy;
  /** the key the audit log's hash chain is keyed with (kept outside the catalog) */
  auditKey?: string;
  /** addresses of reverse proxies whose X-Forwarded-For is believed */
  trustedProxies?: string[];
  settings?: {
    /** a running job with no heartbeat for this long counts as stuck (restartable) */
    stuckMinutes?: number;
    /** the repository's allowance, for capacity warnings */
    capacityBytes?: number;
    /** how old `backup/status` may be (default 1 s; 0: always fresh) */
    statusCacheMs?: number;
    /** the time zone n8n runs schedules in */
    timezone?: string;
  };
  log?: Logger;
}

export interface RepositoryAccess {
  /** where it is, for people (never with credentials) */
  location: string;
  storage: Storage;
  /** the opened repository (opening costs a key derivation, so it is kept) */
  open(): Promise<Repository>;
  /** a local repository's directory, for free-space warnings */
  localPath?: string;
}
