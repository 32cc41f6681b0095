import { checkClusterName, type RecoveryTarget } from '../../engine/targets';
import { recoverCluster } from '../../engine/targets/postgresCluster/recoveryRunner';
import { walGetArgv } from '../programs';
import { UsageError } from '../exitCodes';
import { formatBytes, printJson } from '../output';
import { wholeNumber } from '../options';
import { flagsOf, openRepo, repoConfigOf } from './context';

/** PostgreSQL cluster commands: base backups are `repo backup --postgres-cluster`; these archive WAL and restore to a moment. */
/** `repo restore --postgres-cluster`: a cluster to a moment, into a new data directory; optionally started and promoted. */
export async function restoreClusterCommand(
  flags: ReturnType<typeof flagsOf>,
  opts: {
    postgresCluster: string;
    targetTime?: string;
    targetLsn?: string;
    targetName?: string;
    targetXid?: string;
    latest?: boolean;
    targetTimeline?: string;
    to?: string;
    start?: boolean;
    port?: string;
    owner?: string;
    json?: boolean;
  },
): Promise<void> {
  const given = [opts.targetTime, opts.targetLsn, opts.targetName, opts.targetXid, opts.latest].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give one of --target-time, --target-lsn, --target-name, --target-xid or --latest');
  if (opts.targetXid && !/^\d+$/.test(opts.targetXid)) throw new UsageError(`--target-xid ${opts.targetXid}: a transaction id is a number`);
  if (!opts.to) throw new UsageError('--postgres-cluster needs --to <new data directory>');
  let target: RecoveryTarget;
  if (opts.targetTime) {
    const time = new Date(opts.targetTime);
    if (Number.isNaN(time.getTime())) throw new UsageError(`--target-time ${JSON.stringify(opts.targetTime)} is not a time (e.g. 2026-11-26T10:30:00Z)`);
    target = { time };
  } else if (opts.targetLsn) target = { lsn: opts.targetLsn };
  else if (opts.targetName) target = { name: opts.targetName };
  else if (opts.targetXid) target = { xid: opts.targetXid };
  else target = { latest: true };
  if (opts.start && !opts.port) throw new UsageError('--start needs --port');
  const tl = opts.targetTimeline ?? 'current';
  if (tl !== 'current' && tl !== 'latest' && !/^\d+$/.test(tl)) throw new UsageError(`--target-timeline ${tl}: current, latest or a number`);
  const result = await recoverCluster(await openRepo(flags), {
    walGet: walGetArgv(),
    cluster: checkClusterName(opts.postgresCluster),
    target,
    to: opts.to,
    configFile: flags.config,
    config: flags.config ? undefined : repoConfigOf(flags),
    startPort: opts.start ? wholeNumber('--port')(opts.port!) : undefined,
    owner: opts.owner,
    timeline: tl === 'current' || tl === 'latest' ? tl : Number(tl),
  });
  if (opts.json) {
    printJson(result);
    return;
  }
  process.stdout.write(`restored base backup ${result.baseBackup.slice(0, 12)} (${formatBytes(result.bytes)}) into ${result.to}, recovering to ${result.target}\n`);
  if (result.recovery) process.stdout.write(`recovered and promoted in ${result.recovery.seconds.toFixed(1)} s: a primary on timeline ${result.recovery.timeline}, port ${opts.port}\n`);
  else process.stdout.write(`start it (as its owner) to replay WAL to the target and promote: pg_ctl -D ${result.to} start${result.configFile && !flags.config ? `; then delete ${result.configFile}` : ''}\n`);
}
