import type { Command } from 'commander';
import * as path from 'node:path';
import { startStack } from '../stack/launcher';
import { UsageError } from './exitCodes';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${name}=${raw} is not a TCP port`);
  return n;
}

/** `stack start`: the whole product on this machine, in the foreground, until Ctrl-C. */
export function registerStack(program: Command): void {
  const stack = program.command('stack').description('run the product on this machine');
  stack
    .command('start')
    .description('start the catalog PostgreSQL, n8n with the backup nodes and workflows, on embedded defaults (see README: Settings)')
    .action(async () => {
      const dataDir = path.resolve(process.env.DBM_DATA_DIR ?? 'data');
      const running = await startStack({
        dataDir,
        catalogPort: port('DBM_CATALOG_PORT', 20011),
        n8nPort: port('DBM_N8N_PORT', 20012),
        n8nBrokerPort: port('DBM_N8N_BROKER_PORT', 20013),
        databaseUrl: process.env.DATABASE_URL,
        repository: process.env.DBM_REPOSITORY,
        s3: { endpoint: process.env.DBM_S3_ENDPOINT, accessKey: process.env.DBM_S3_ACCESS_KEY, secretKey: process.env.DBM_S3_SECRET_KEY, region: process.env.DBM_S3_REGION },
        passphrase: process.env.DBM_PASSPHRASE,
        alertUrl: process.env.DBM_ALERT_URL,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(
        [
          'data-backup-manager is running',
          `  n8n:         ${running.n8nUrl} (owner: admin@data-backup-manager.local, password in ${path.join(dataDir, 'secrets', 'n8n-owner-password')})`,
          `  catalog:     ${running.catalogUrl}`,
          `  repository:  ${running.repository} (passphrase in ${path.join(dataDir, 'secrets', 'repository-passphrase')}: keep a copy elsewhere)`,
          `  backup now:  curl -X POST ${running.n8nUrl}/webhook/dbm-backup -H "X-Backup-Secret: $(cat ${path.join(dataDir, 'secrets', 'webhook-secret')})" \\`,
          `                 -H 'content-type: application/json' -d '{"type":"full","paths":["/etc"]}'`,
          'ready',
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.stderr.write('stopping …\n');
      await running.stop();
    });
}
