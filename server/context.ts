import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { PathPolicy, Repository, Storage } from '../engine';
import type { Role } from '../catalog/tokens';
import type { WorkflowEndpoint } from './n8n/trigger';

/** Who is calling: the token's id, name and role. */
export interface Actor {
  id: string;
  name: string;
  role: Role;
}

/** Hono's typed context for every route: the authenticated caller. */
export interface AppEnv {
  /** `audit`: details that put a read in the audit log (a download of backed-up data) */
  Variables: { actor: Actor; audit?: Record<string, unknown> };
}

/** What the API needs of the installation it controls. */
export interface AppDeps {
  catalog: Pool;
  /** the on-demand workflows' webhooks */
  n8n: WorkflowEndpoint;
  /** n8n's public API, for schedules and cancelling; absent when the server runs without it */
  n8nApi?: N8nControl;
  /** queue mode: Redis and its queue, for /health, `status --verbose` and /metrics (workers: the catalog); absent without workers */
  cluster?: QueueCluster;
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

/** n8n's queue mode as the API sees it (its workers, wherever they run, report to the catalog). */
export interface QueueCluster {
  /** executions waiting in n8n's queue for a worker (throws when Redis cannot be asked) */
  queueDepth(): Promise<number>;
}

/** A schedule as n8n runs it: one published workflow made from the scheduled-backup template. */
export interface ScheduleWorkflow {
  name: string;
  cron: string;
  type: string;
  targets: string[];
  /** what the targets read (the registry's source fields: paths, databases, buckets, cluster …), defaults filled in */
  sources: Record<string, unknown>;
  retentionDays?: number;
}

/**
 * What the API asks of n8n beyond webhooks. The stack implements it over n8n's
 * public API (stack/provision.ts); the API knows no more of n8n than this.
 */
export interface N8nControl {
  /** publishes the schedule's workflow; answers its id */
  createSchedule(schedule: ScheduleWorkflow): Promise<string>;
  activate(workflowId: string): Promise<unknown>;
  deactivate(workflowId: string): Promise<unknown>;
  deleteWorkflow(workflowId: string): Promise<unknown>;
  /** stops a running execution; one that already ended is left as it is */
  stopExecution(executionId: string): Promise<void>;
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
