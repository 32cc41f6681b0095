import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { withBackupChain, type Workflow } from './backupChain';

/** `npm run workflows`: copies the on-demand backup chain into the scheduled workflow. */
const dir = path.join(__dirname, '..', '..', 'workflows');
const read = (file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Workflow;
const scheduled = withBackupChain(read('backup-on-demand.json'), read('backup-scheduled.json'));
writeFileSync(path.join(dir, 'backup-scheduled.json'), `${JSON.stringify(scheduled, null, 2)}\n`);
process.stdout.write(`workflows/backup-scheduled.json: ${scheduled.nodes.length} nodes, its chain copied from backup-on-demand.json\n`);
