import type { Pool } from 'pg';
import { listSchedules, setScheduleWorkflow } from '../catalog/schedules';
import type { N8nControl, ScheduleWorkflow } from '../server';
import type { N8nClient } from './n8n';
import type { LevelName } from '../engine/compression';
import { workflowFromTemplate, type Workflow } from './workflows';

/** What the shipped workflows need to know about this installation. */
export interface StackSettings {
  /** the secret the server sends in X-Backup-Secret when it calls the workflows' webhooks */
  webhookSecret: string;
  /** `compression`: the credential's, for a repository its first backup creates */
  repository: (
    | { storage: 'local'; path: string; passphrase: string }
    | { storage: 's3'; endpoint: string; accessKey: string; secretKey: string; bucket: string; prefix?: string; region?: string; passphrase: string }
  ) & { compression?: LevelName };
  postgres: { host: string; port: number; user: string; password?: string; sslmode?: string; database?: string };
  catalog: { host: string; port: number; user: string; password?: string; database: string; sslmode?: string };
  minio?: { endpoint: string; accessKey: string; secretKey: string; region?: string };
  /** where failure and health alerts are POSTed; without one, no webhook alert is sent (jobs are still marked failed) */
  alertUrl?: string;
  retention?: { cron: string; policy: Record<string, unknown> };
  /** alerts also go by e-mail when an SMTP server is given */
  smtp?: { host: string; port: number; secure?: boolean; user?: string; password?: string; from: string; to: string };
  monitor?: { cron: string; stuckMinutes: number; expectedTargets: string; maxAgeHours: number; capacityGb: number };
  /** n8n runs in queue mode: the on-demand workflows answer once their execution is queued (see acceptedOnReceipt) */
  queueMode?: boolean;
}

export interface ProvisionedStack {
  credentials: Record<string, string>;
  workflows: Record<string, string>;
}

/** What provisioning publishes (the error workflow first); backup-scheduled.json is the template of each schedule. */
export const PUBLISHED_WORKFLOWS = ['error-alert.json', 'backup-on-demand.json', 'restore-on-demand.json', 'verify-on-demand.json', 'retention.json', 'monitor.json'] as const;
const SHIPPED = PUBLISHED_WORKFLOWS.slice(1);

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
  if (settings.smtp) {
    const { host, port, secure, user, password } = settings.smtp;
    credentials.CRED_smtp = await cred('Alert e-mail', 'smtp', { host, port, secure: secure ?? false, user: user ?? '', password: password ?? '' });
  }
  const withMail = (wf: Workflow): Workflow => {
    const mailed = settings.smtp ? withEmailAlert(wf, settings.smtp, credentials.CRED_smtp) : wf;
    return settings.alertUrl ? mailed : withoutNode(mailed, 'Send alert');
  };
  const workflows: Record<string, string> = {};
  const errorWorkflow = (await client.createWorkflow(withMail(workflowFromTemplate('error-alert.json', { ...credentials, ALERT_URL: settings.alertUrl ?? '' })))).id;
  await client.activate(errorWorkflow);
  workflows['error-alert.json'] = errorWorkflow;
  const monitor = settings.monitor ?? { cron: '*/15 * * * *', stuckMinutes: 60, expectedTargets: 'postgres,files', maxAgeHours: 26, capacityGb: 0 };
  const retention = settings.retention ?? { cron: '0 3 * * *', policy: { keep_daily: 7, keep_weekly: 4, keep_monthly: 12 } };
  for (const file of SHIPPED) {
    const wf = workflowFromTemplate(file, {
      ...credentials,
      ERROR_WORKFLOW_ID: errorWorkflow,
      ALERT_URL: settings.alertUrl ?? '',
      RETENTION_CRON: retention.cron,
      DEFAULT_POLICY: retention.policy,
      MONITOR_CRON: monitor.cron,
      STUCK_MINUTES: monitor.stuckMinutes,
      EXPECTED_TARGETS: monitor.expectedTargets,
      MAX_AGE_HOURS: monitor.maxAgeHours,
      CAPACITY_GB: monitor.capacityGb,
    });
    const shaped = settings.queueMode ? acceptedOnReceipt(wf) : wf;
    const id = (await client.createWorkflow(file === 'monitor.json' ? withMail(shaped) : shaped)).id;
    await client.activate(id);
    workflows[file] = id;
  }
  return { credentials, workflows };
}

/** One published workflow made from the scheduled-backup template (the server's `schedule create`). */
export async function createScheduleWorkflow(
  client: N8nClient,
  stack: ProvisionedStack,
  schedule: ScheduleWorkflow,
): Promise<string> {
  const wf = workflowFromTemplate('backup-scheduled.json', {
    ...stack.credentials,
    ERROR_WORKFLOW_ID: stack.workflows['error-alert.json'],
    SCHEDULE_NAME: schedule.name,
    CRON: schedule.cron,
    BACKUP_TYPE: schedule.type,
    TARGETS: schedule.targets,
    SOURCES: schedule.sources,
    RETENTION_DAYS: schedule.retentionDays ?? 0,
  });
  const id = (await client.createWorkflow(wf)).id;
  try {
    await client.activate(id);
  } catch (err) {
    await client.deleteWorkflow(id).catch(() => undefined); // no half-made schedule left in n8n
    throw err;
  }
  return id;
}

const SCHEDULE_WORKFLOW_PREFIX = 'Scheduled backup: ';

/**
 * Makes n8n's scheduled-backup workflows match the catalog's schedules: one
 * missing from this n8n (its database is new: the stack went to queue mode,
 * or back) is made again, published or not as the catalog says; one the
 * catalog does not know (left in the database the stack used before) is
 * deleted, so it cannot run a schedule that was removed meanwhile. Answers
 * what it changed.
 */
export async function syncSchedules(catalog: Pool, client: N8nClient, stack: ProvisionedStack): Promise<{ made: string[]; deleted: string[] }> {
  const inN8n = (await client.workflows()).filter((w) => w.name.startsWith(SCHEDULE_WORKFLOW_PREFIX));
  const ids = new Set(inN8n.map((w) => w.id));
  const made: string[] = [];
  const known = new Set<string>();
  for (const s of await listSchedules(catalog)) {
    if (ids.has(s.workflow_id)) {
      known.add(s.workflow_id);
      continue;
    }
    const id = await createScheduleWorkflow(client, stack, { name: s.name, cron: s.cron, type: s.type, targets: s.targets, sources: s.params, retentionDays: s.retention_days ?? undefined });
    if (!s.enabled) await client.deactivate(id);
    await setScheduleWorkflow(catalog, s.name, id);
    known.add(id);
    made.push(s.name);
  }
  const deleted: string[] = [];
  for (const w of inN8n.filter((x) => !known.has(x.id))) {
    await client.deleteWorkflow(w.id);
    deleted.push(w.name.slice(SCHEDULE_WORKFLOW_PREFIX.length));
  }
  return { made, deleted };
}

/** What the API asks of n8n, over its public API and what provisioning made. */
export function n8nControl(client: N8nClient, stack: ProvisionedStack): N8nControl {
  return {
    createSchedule: (schedule) => createScheduleWorkflow(client, stack, schedule),
    activate: (id) => client.activate(id),
    deactivate: (id) => client.deactivate(id),
    deleteWorkflow: (id) => client.deleteWorkflow(id),
    stopExecution: (id) => client.stopExecution(id),
  };
}

/**
 * Beside a workflow's "Send alert" webhook call, an e-mail with the same
 * content (n8n's Send Email node over the configured SMTP server).
 */
function withEmailAlert(wf: Workflow, smtp: NonNullable<StackSettings['smtp']>, credentialId: string): Workflow {
  const alert = wf.nodes.find((n) => n.name === 'Send alert');
  if (!alert) return wf;
  const feeder = Object.entries(wf.connections).find(([, c]) => c.main.some((out) => out.some((t) => t.node === 'Send alert')));
  if (!feeder) return wf;
  const body = String(alert.parameters?.jsonBody).replace(/^=\{\{\s*JSON\.stringify\(/, '').replace(/\)\s*\}\}$/, '');
  wf.nodes.push({
    id: '7f0c1f1e-0009-4000-8000-000000000001',
    name: 'Send e-mail',
    type: 'n8n-nodes-base.emailSend',
    typeVersion: 2.1,
    position: [alert.position[0], alert.position[1] - 160], // above the alert: the shipped layouts keep that free
    parameters: {
      fromEmail: smtp.from,
      toEmail: smtp.to,
      subject: `={{ 'data-backup-manager: ' + (${body}).event }}`,
      emailFormat: 'text',
      text: `={{ JSON.stringify(${body}, null, 2) }}`,
      options: {},
    },
    credentials: { smtp: { id: credentialId, name: 'Alert e-mail' } },
  });
  for (const out of feeder[1].main) if (out.some((t) => t.node === 'Send alert')) out.push({ node: 'Send e-mail', type: 'main', index: 0 });
  return wf;
}

/**
 * In queue mode a webhook answered by a node waits for a worker to run that
 * node: with every worker busy, the API's call timed out and the job failed
 * to start though n8n had queued it. So there the webhook answers 202 as
 * soon as n8n has recorded and queued the execution (with its id), and the
 * "Accepted" node goes. What changes: a replayed call gets 202 too, and its
 * execution fails at the claim, running nothing (without workers, the
 * answer itself says the claim was refused).
 */
export function acceptedOnReceipt(wf: Workflow): Workflow {
  const accepted = wf.nodes.find((n) => n.name === 'Accepted' && n.type === 'n8n-nodes-base.respondToWebhook');
  const trigger = wf.nodes.find((n) => n.type === 'n8n-nodes-base.webhook' && n.parameters?.responseMode === 'responseNode');
  if (!accepted || !trigger) return wf;
  const next = wf.connections[accepted.name]?.main[0] ?? [];
  const connections = Object.fromEntries(
    Object.entries(wf.connections).map(([from, c]) => [from, { main: c.main.map((out) => out.flatMap((t) => (t.node === accepted.name ? next : [t]))) }]),
  );
  delete connections[accepted.name];
  const onReceipt = {
    ...trigger,
    parameters: {
      ...trigger.parameters,
      responseMode: 'onReceived',
      options: {
        ...(trigger.parameters?.options as object),
        responseCode: { values: { responseCode: 202 } },
        responseData: '={{ JSON.stringify({ status: "accepted", execution_id: $execution.id }) }}',
      },
    },
  };
  return { ...wf, nodes: wf.nodes.filter((n) => n !== accepted).map((n) => (n === trigger ? onReceipt : n)), connections };
}

/** A workflow without one of its nodes, and without the connections to it. */
function withoutNode(wf: Workflow, name: string): Workflow {
  const connections = { ...wf.connections };
  delete connections[name];
  for (const c of Object.values(connections)) c.main = c.main.map((out) => out.filter((t) => t.node !== name));
  return { ...wf, nodes: wf.nodes.filter((n) => n.name !== name), connections };
}
