import type { Command } from 'commander';
import { promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration, prune } from '../../engine';
import { forEachLimit } from '../../engine/concurrency';
import {
  checkClusterName,
  checkWalName,
  fetchWal,
  pitrRetention,
  pitrWindow,
  pushWal,
  type RecoveryTarget,
} from '../../engine/targets';
import { commandLine, recoverCluster, shellWord, writeRepositoryConfig } from '../../engine/targets/postgresCluster/recoveryRunner';
import { SPOOL_MAX_BYTES, spoolBacklog, SpoolBehindError, spoolWal } from '../../engine/targets/postgresCluster/walSpool';
import { EXIT, ExitError, UsageError } from '../exitCodes';
import { formatBytes, printJson } from '../output';
import { flagsOf, lockWaitMs, openRepo, repoConfigOf, wholeNumber } from './context';

/** This CLI, as PostgreSQL's restore_command and archive_command run it. */
function cliArgv(): string[] {
  return [process.execPath, path.join(__dirname, '..', 'main.js')];
}

/** PostgreSQL cluster commands: base backups are `repo backup --postgres-cluster`; these archive WAL and restore to a moment. */
export function registerPitr(repo: Command): void {
  repo
    .command('wal-push <file>')
    .description("archive one WAL file: PostgreSQL's archive_command (%p); --spool hands it to wal-uploader instead")
    .requiredOption('--cluster <name>', 'the cluster the WAL belongs to')
    .option('--spool <dir>', 'asynchronous: copy into this spool directory and return; wal-uploader stores it')
    .option('--spool-max <bytes>', 'with --spool: refuse (so PostgreSQL keeps its WAL and retries) beyond this backlog', String(SPOOL_MAX_BYTES))
    .action(async (file: string, opts: { cluster: string; spool?: string; spoolMax: string }, cmd: Command) => {
      checkClusterName(opts.cluster);
      const name = checkWalName(path.basename(file));
      if (opts.spool) {
        try {
          await spoolWal(file, opts.spool, wholeNumber(opts.spoolMax, '--spool-max'));
        } catch (err) {
          if (err instanceof SpoolBehindError) throw new ExitError(err.message, EXIT.failure);
          throw err;
        }
        return;
      }
      const outcome = await pushWal(await openRepo(flagsOf(cmd)), opts.cluster, file);
      if (outcome === 'already archived') process.stderr.write(`${name} was already archived with the same content\n`);
    });

  repo
    .command('wal-fetch <name> <dest>')
    .description("restore one archived WAL file: PostgreSQL's restore_command (%f %p); exit 1 when the archive does not have it")
    .requiredOption('--cluster <name>', 'the cluster')
    .action(async (name: string, dest: string, opts: { cluster: string }, cmd: Command) => {
      if (!(await fetchWal(await openRepo(flagsOf(cmd)), opts.cluster, checkWalName(name), dest))) {
        throw new ExitError(`${name} is not in the archive of cluster ${opts.cluster}`, EXIT.failure);
      }
    });

  repo
    .command('wal-uploader')
    .description('asynchronous archiving: store what `wal-push --spool` queued, several files at a time, until stopped')
    .requiredOption('--cluster <name>', 'the cluster')
    .requiredOption('--spool <dir>', 'the spool directory')
    .option('--parallel <n>', 'uploads at once', '4')
    .option('--once', 'drain the spool and exit')
    .action(async (opts: { cluster: string; spool: string; parallel: string; once?: boolean }, cmd: Command) => {
      checkClusterName(opts.cluster);
      const repository = await openRepo(flagsOf(cmd)); // opened once: no key derivation per file
      const parallel = Math.max(1, wholeNumber(opts.parallel, '--parallel'));
      let stopping = false;
      const stop = () => (stopping = true);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      let uploaded = 0;
      while (!stopping) {
        const { files, bytes } = await spoolBacklog(opts.spool);
        const status = { cluster: opts.cluster, backlog: files.length, backlogBytes: bytes, oldest: files[0] ?? null, uploaded, at: new Date().toISOString() };
        writeFileSync(path.join(opts.spool, 'status.json'), JSON.stringify(status));
        if (files.length > 64) process.stderr.write(`warning: WAL archiving is behind: ${files.length} files (${formatBytes(bytes)}) waiting, oldest ${files[0]}\n`);
        if (files.length === 0) {
          if (opts.once) break;
          await sleep(500);
          continue;
        }
        let failed = 0;
        await forEachLimit(files.values(), parallel, async (name) => {
          try {
            await pushWal(repository, opts.cluster, path.join(opts.spool, name));
          } catch (err) {
            // the file stays in the spool and is tried again; a file that can never be stored keeps the backlog growing, loudly
            failed++;
            process.stderr.write(`error: ${name}: ${(err as Error).message}\n`);
            return;
          }
          await fs.rm(path.join(opts.spool, name));
          uploaded++;
        });
        if (failed > 0) {
          if (opts.once) throw new ExitError(`${failed} WAL files could not be stored; they stay in ${opts.spool}`, EXIT.failure);
          await sleep(5000);
        }
      }
      process.stderr.write(`wal-uploader: ${uploaded} files archived\n`);
    });

  repo
    .command('pitr-window')
    .description('what the archive can restore, per cluster: earliest and latest moments, and gaps in the WAL')
    .requiredOption('--cluster <name>', 'the cluster')
    .option('--json', 'print JSON')
    .action(async (opts: { cluster: string; json?: boolean }, cmd: Command) => {
      const window = await pitrWindow(await openRepo(flagsOf(cmd)), checkClusterName(opts.cluster));
      if (opts.json) printJson(window);
      else {
        const lines = [
          `cluster ${window.cluster}: ${window.baseBackups.length} base backups, ${window.walFiles} WAL files`,
          `restorable from ${window.earliest ?? '-'} to ${window.latest ?? '-'}${window.latestSegment ? ` (WAL up to ${window.latestSegment})` : ''}`,
          ...window.gaps.map((g) => `GAP: ${g.count} WAL segment(s) missing, ${g.first} … ${g.last}: nothing after ${g.restorableUntil ?? 'it'} is restorable until the next base backup`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (window.gaps.length > 0) process.exitCode = EXIT.failure;
    });

  repo
    .command('pitr-retention')
    .description('keep what restoring to any moment of the last --window needs (base backups and WAL), forget the rest, prune')
    .requiredOption('--cluster <name>', 'the cluster')
    .requiredOption('--window <duration>', 'how far back every moment must stay restorable, e.g. 7d')
    .option('--dry-run', 'only say what would go')
    .option('--no-prune', 'forget base backups and delete WAL, but leave unreferenced data for a later prune')
    .option('--json', 'print JSON')
    .action(async (opts: { cluster: string; window: string; dryRun?: boolean; prune: boolean; json?: boolean }, cmd: Command) => {
      const flags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const result = await pitrRetention(repository, checkClusterName(opts.cluster), { windowMs: parseDuration(opts.window), dryRun: opts.dryRun });
      const pruned = !opts.dryRun && opts.prune && result.forgotten.length > 0 ? await prune(repository, { lockWaitMs: lockWaitMs(flags) }) : null;
      if (opts.json) return printJson({ ...result, prune: pruned });
      process.stdout.write(
        [
          `${opts.dryRun ? 'would keep' : 'kept'} ${result.kept.length} base backups, ${opts.dryRun ? 'would forget' : 'forgot'} ${result.forgotten.length}`,
          `${opts.dryRun ? 'would delete' : 'deleted'} ${result.walDeleted} WAL files, ${result.walKept} kept; restorable from ${result.earliest}`,
          ...(pruned ? [`pruned: ${pruned.packsDeleted} packs deleted, ${formatBytes(pruned.bytesFreed)} freed`] : []),
          '',
        ].join('\n'),
      );
    });

  repo
    .command('wal-commands')
    .description("print PostgreSQL's archive_command and restore_command for this repository (with --config)")
    .requiredOption('--cluster <name>', 'the cluster')
    .option('--spool <dir>', 'asynchronous archiving through this spool')
    .action((opts: { cluster: string; spool?: string }, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (!flags.config) throw new UsageError('give --config <file>: PostgreSQL runs the commands without your environment (write one with: repo wal-config)');
      const base = `${commandLine(cliArgv())} repo --config ${shellWord(path.resolve(flags.config))}`;
      const spoolCommand = opts.spool
        ? `${shellWord(process.execPath)} ${shellWord(path.join(__dirname, '..', 'wal-spool.js'))} ${shellWord(path.resolve(opts.spool))} %p`
        : null;
      process.stdout.write(
        [
          "archive_mode = 'on'",
          `archive_command = '${(spoolCommand ?? `${base} wal-push --cluster ${shellWord(opts.cluster)} %p`).replace(/'/g, "''")}'`,
          `restore_command = '${`${base} wal-fetch --cluster ${shellWord(opts.cluster)} %f %p`.replace(/'/g, "''")}'`,
          ...(opts.spool ? [`# and keep running: data-backup-manager repo --config ${flags.config} wal-uploader --cluster ${opts.cluster} --spool ${opts.spool}`] : []),
          '',
        ].join('\n'),
      );
    });

  repo
    .command('wal-config <file>')
    .description('write a config file (mode 0600) with this repository and passphrase, for archive_command and restore_command')
    .option('--owner <user>', 'give the file to this user (the one PostgreSQL runs as)')
    .action((file: string, opts: { owner?: string }, cmd: Command) => {
      writeRepositoryConfig(file, repoConfigOf(flagsOf(cmd)), opts.owner);
      process.stdout.write(`wrote ${file}\n`);
    });
}

/** `repo restore --postgres-cluster`: a cluster to a moment, into a new data directory; optionally started and promoted. */
export async function restoreClusterCommand(
  flags: ReturnType<typeof flagsOf>,
  opts: {
    postgresCluster: string;
    targetTime?: string;
    targetLsn?: string;
    latest?: boolean;
    targetTimeline?: string;
    to?: string;
    start?: boolean;
    port?: string;
    owner?: string;
    json?: boolean;
  },
): Promise<void> {
  const given = [opts.targetTime, opts.targetLsn, opts.latest].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give one of --target-time, --target-lsn or --latest');
  if (!opts.to) throw new UsageError('--postgres-cluster needs --to <new data directory>');
  let target: RecoveryTarget;
  if (opts.targetTime) {
    const time = new Date(opts.targetTime);
    if (Number.isNaN(time.getTime())) throw new UsageError(`--target-time ${JSON.stringify(opts.targetTime)} is not a time (e.g. 2026-11-26T10:30:00Z)`);
    target = { time };
  } else if (opts.targetLsn) target = { lsn: opts.targetLsn };
  else target = { latest: true };
  if (opts.start && !opts.port) throw new UsageError('--start needs --port');
  const tl = opts.targetTimeline ?? 'current';
  if (tl !== 'current' && tl !== 'latest' && !/^\d+$/.test(tl)) throw new UsageError(`--target-timeline ${tl}: current, latest or a number`);
  const result = await recoverCluster(await openRepo(flags), {
    cli: cliArgv(),
    cluster: checkClusterName(opts.postgresCluster),
    target,
    to: opts.to,
    configFile: flags.config,
    config: flags.config ? undefined : repoConfigOf(flags),
    startPort: opts.start ? wholeNumber(opts.port!, '--port') : undefined,
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
