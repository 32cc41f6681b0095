import type { N8nClient } from './n8n';
import { workflowFromTemplate } from './workflows';

/** What the shipped workflows need to know about this installation. */
export interface StackSettings {
  /** the secret the server sends in X-Backup-Secret when it calls the workflows' webhooks */
  webhookSecret: string;
  repository:
    | { storage: 'local'; path: string; passphrase: string }
    | { storage: 's3'; endpoint: string; accessKey: string; secretKey: string; bucket: string; prefix?: string; region?: string; passphrase: string };
  postgres: { host: string; port: number; user: string; password?: string; sslmode?: string; database?: string };
  catalog: { host: string; port: number; user: string; password?: string; database: string; sslmode?: string };
  minio?: { endpoint: string; accessKey: string; secretKey: string; region?: string };
  /** where failure and health alerts are POSTed */
  alertUrl: string;
  retention?: { cron: string; policy: Record<string, unknown> };
  monitor?: { cron: string; stuckMinutes: number; expectedTargets: string; maxAgeHours: number; capacityGb: number };
}

export interface ProvisionedStack {
  credentials: Record<string, string>;
  workflows: Record<string, string>;
}

const SHIPPED = ['backup-on-demand.json', 'restore-on-demand.json', 'verify-on-demand.json', 'retention.json', 'monitor.json'] as const;

/**
 * Creates the credentials the shipped workflows use and imports and publishes
 * them (the error workflow first, so the others can name it). The scheduled
 * backup template is not published: the server makes one workflow from it per
 * schedule.
 */
export async function provisionWorkflows(client: N8nClient, settings: StackSettings): Promise<ProvisionedStack> {
  const cred = async (name: string, type: string, data: Record<string, unknown>): Promise<string> => (await client.createCredential(name, type, data)).id;
  const minio = settings.minio ?? (settings.repository.storage === 's3' ? settings.repository : undefined);
  const credentials: Record<string, string> = {
    CRED_httpHeaderAuth: await cred('Backup webhook secret', 'httpHeaderAuth', { name: 'X-Backup-Secret', value: settings.webhookSecret }),
    CRED_dbmRepositoryApi: await cred('Backup repository', 'dbmRepositoryApi', { ...settings.repository, createIfMissing: true }),
    CRED_dbmPostgresApi: await cred('PostgreSQL source', 'dbmPostgresApi', { sslmode: 'disable', database: 'postgres', ...settings.postgres }),
    CRED_dbmCatalogApi: await cred('Backup catalog', 'dbmCatalogApi', { sslmode: 'disable', ...settings.catalog }),
    // Restore needs a MinIO credential even when no bucket is backed up: n8n checks every credential a node may use.
    CRED_dbmMinioApi: await cred('MinIO source', 'dbmMinioApi', minio ? { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, region: minio.region ?? 'us-east-1' } : { endpoint: 'http://127.0.0.1:9000', accessKey: 'unset', secretKey: 'unset', region: 'us-east-1' }),
  };
  const workflows: Record<string, string> = {};
  const errorWorkflow = (await client.createWorkflow(workflowFromTemplate('error-alert.json', { ...credentials, ALERT_URL: settings.alertUrl }))).id;
  await client.activate(errorWorkflow);
  workflows['error-alert.json'] = errorWorkflow;
  const monitor = settings.monitor ?? { cron: '*/15 * * * *', stuckMinutes: 60, expectedTargets: 'postgres,files', maxAgeHours: 26, capacityGb: 0 };
  const retention = settings.retention ?? { cron: '0 3 * * *', policy: { keep_daily: 7, keep_weekly: 4, keep_monthly: 12 } };
  for (const file of SHIPPED) {
    const wf = workflowFromTemplate(file, {
      ...credentials,
      ERROR_WORKFLOW_ID: errorWorkflow,
      ALERT_URL: settings.alertUrl,
      RETENTION_CRON: retention.cron,
      DEFAULT_POLICY: retention.policy,
      MONITOR_CRON: monitor.cron,
      STUCK_MINUTES: monitor.stuckMinutes,
      EXPECTED_TARGETS: monitor.expectedTargets,
      MAX_AGE_HOURS: monitor.maxAgeHours,
      CAPACITY_GB: monitor.capacityGb,
    });
    const id = (await client.createWorkflow(wf)).id;
    await client.activate(id);
    workflows[file] = id;
  }
  return { credentials, workflows };
}

/** One published workflow made from the scheduled-backup template (the server's `schedule create`). */
export async function createScheduleWorkflow(
  client: N8nClient,
  stack: ProvisionedStack,
  schedule: { name: string; cron: string; type: string; databases: string[]; paths: string[] },
): Promise<string> {
  const wf = workflowFromTemplate('backup-scheduled.json', {
    ...stack.credentials,
    ERROR_WORKFLOW_ID: stack.workflows['error-alert.json'],
    SCHEDULE_NAME: schedule.name,
    CRON: schedule.cron,
    BACKUP_TYPE: schedule.type,
    DATABASES: schedule.databases,
    PATHS: schedule.paths,
  });
  const id = (await client.createWorkflow(wf)).id;
  await client.activate(id);
  return id;
}
