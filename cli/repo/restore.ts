import type { Command } from 'commander';
import { restoreStream, restoreTree } from '../../engine/restorer';
import { prestartRestoreWorker } from '../../engine/restoreWriter';
import { findSnapshot } from '../../engine/snapshot';
import type { VerifiedDatabase } from '../../engine/targets/postgres/restore';
import { verifyRestoredTree } from '../../engine/verify';
import { EXIT, UsageError } from '../exitCodes';
import { formatBytes, printJson, table } from '../output';
import { collect, parseTags } from '../options';
import { flagsOf, lockWaitMs, openRepo } from './context';
import { minioFrom, pgConnectionFrom } from './sources';

export function registerRestore(repo: Command): void {
  repo
    .command('restore')
    .description('restore a snapshot: into a directory, to standard output, into PostgreSQL or into MinIO/S3; or a PostgreSQL cluster to a moment')
    .argument('[snapshot]', "snapshot id (or a unique prefix) or 'latest'")
    .option('--target <dir>', 'directory to restore into')
    .option('--original', 'restore files to where they were backed up from')
    .option('--stdout', 'write a stream entry to standard output')
    .option('--name <name>', 'with --stdout: which entry (when the snapshot has several)')
    .option('--from <target>', "with 'latest': the newest snapshot of this backup target")
    .option('--tag <key=value>', "with 'latest': the newest snapshot with this tag, e.g. scenario=blog (repeatable)", collect)
    .option('--include <glob>', 'restore only matching paths (repeatable)', collect)
    .option('--postgres <url>', 'restore databases into this PostgreSQL server')
    .option('--database <name>', 'with --postgres: only this database of the snapshot')
    .option('--as <name>', 'with --postgres: restore the database under this new name')
    .option('--force', 'with --postgres: replace an existing database of the same name')
    .option('--globals', 'with --postgres: also restore roles and tablespaces')
    .option('--db-owner <role>', 'with --postgres: the role to own the restored database, instead of its recorded owner')
    .option('--minio <endpoint>', 'restore objects into this MinIO/S3 endpoint')
    .option('--bucket <bucket>', 'with --minio: into this bucket instead of the original')
    .option('--prefix <prefix>', 'with --minio: put keys under this prefix')
    .option('--minio-access-key <key>', 'MinIO access key (env DBM_MINIO_ACCESS_KEY)')
    .option('--minio-secret-key <key>', 'MinIO secret key (env DBM_MINIO_SECRET_KEY)')
    .option('--verify', 'after restoring, check what was restored against the snapshot (postgres: row counts against the manifest; files and minio: content)')
    .option('--test', 'with --postgres: only a restore test (into a scratch database, compared with the manifest, then dropped); nothing is left behind')
    .option('--postgres-cluster <cluster>', 'point-in-time recovery of this cluster (base backup + archived WAL) into --to')
    .option('--target-time <time>', 'with --postgres-cluster: recover to this moment (e.g. 2026-11-26T10:30:00Z)')
    .option('--target-lsn <lsn>', 'with --postgres-cluster: recover to this WAL position')
    .option('--target-name <name>', "with --postgres-cluster: recover to this restore point (pg_create_restore_point)")
    .option('--target-xid <xid>', 'with --postgres-cluster: recover to the commit of this transaction')
    .option('--latest', 'with --postgres-cluster: recover everything archived')
    .option('--to <dir>', 'with --postgres-cluster: the new data directory')
    .option('--target-timeline <tl>', "with --postgres-cluster: current (the base backup's, default), latest, or a number")
    .option('--start', 'with --postgres-cluster: start the restored cluster, wait until it reached the target and promoted')
    .option('--port <port>', 'with --start: the port to start it on')
    .option('--owner <user>', 'with --postgres-cluster: the system user to own it (default postgres when run as root)')
    .option('--json', 'print JSON')
    .action(async (snapshot: string | undefined, opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (opts.postgresCluster) {
        if (snapshot) throw new UsageError('--postgres-cluster picks its base backup itself: give a target (--target-time, --target-lsn, --target-name, --target-xid, --latest), not a snapshot');
        return (await import('./restoreCluster')).restoreClusterCommand(flags, opts);
      }
      if (!snapshot) throw new UsageError("give a snapshot id or 'latest' (or --postgres-cluster)");
      const modes = [!!opts.target, !!opts.stdout, !!opts.postgres, !!opts.minio, !!opts.original].filter(Boolean).length;
      if (modes !== 1) throw new UsageError('give exactly one of --target <dir>, --original, --stdout, --postgres <url> or --minio <endpoint>');
      if ((opts.as || opts.force || opts.globals || opts.test) && !opts.postgres) throw new UsageError('--as, --force, --globals and --test go with --postgres');
      // A restore into files boots its writing thread while the repository's key is derived.
      if (opts.target || opts.original) prestartRestoreWorker();
      const repository = await openRepo(flags);
      const ref = await findSnapshot(repository, snapshot, { target: opts.from, tags: opts.tag ? parseTags(opts.tag) : undefined });
      const wait = lockWaitMs(flags);

      if (opts.stdout) {
        const written = await restoreStream(repository, ref, opts.name, process.stdout, { lockWaitMs: wait });
        // standard output carries the data; the summary goes to a terminal only
        if (process.stderr.isTTY) process.stderr.write(`restored ${formatBytes(written)}\n`);
        return;
      }

      if (opts.postgres) {
        const { restorePostgres, verifyPostgresRestore, verifyRestoredDatabases } = await import('../../engine/targets/postgres/restore');
        const conn = pgConnectionFrom(opts.postgres);
        const databases = opts.database ? [opts.database] : undefined;
        const printChecks = (results: VerifiedDatabase[]): void => {
          const rows = results.map((r) => [r.database, r.ok ? 'ok' : 'MISMATCH', String(r.tables), String(r.rows), r.mismatches.map((m) => `${m.table}: ${m.restored}/${m.expected}`).join('; ')]);
          process.stdout.write(`${table(['DATABASE', 'RESULT', 'TABLES', 'ROWS', 'MISMATCHES'], rows)}\n`);
          if (!results.every((r) => r.ok)) process.exitCode = EXIT.failure;
        };
        if (opts.test) {
          if (opts.as || opts.force || opts.globals) throw new UsageError('--test restores into a scratch database and drops it: it takes no --as, --force or --globals (use --verify to restore and then check)');
          const results = await verifyPostgresRestore(repository, ref, conn, { databases, lockWaitMs: wait });
          if (flags.json) printJson({ snapshot: ref.id, tested: results });
          else printChecks(results);
          if (!results.every((r) => r.ok)) process.exitCode = EXIT.failure;
          return;
        }
        const restored = await restorePostgres(repository, ref, conn, { databases, as: opts.as, force: opts.force, globals: opts.globals, owner: opts.dbOwner, lockWaitMs: wait });
        const verified = opts.verify ? await verifyRestoredDatabases(ref, conn, restored) : undefined;
        if (flags.json) printJson({ snapshot: ref.id, restored, ...(verified ? { verified } : {}) });
        else {
          for (const r of restored) process.stdout.write(`restored database ${r.from} as ${r.to} (${r.tables} tables)\n`);
          if (verified) printChecks(verified);
        }
        if (verified && !verified.every((r) => r.ok)) process.exitCode = EXIT.failure;
        return;
      }

      if (opts.minio) {
        const { restoreMinio, verifyMinio } = await import('../../engine/targets/minio');
        const dest = { ...minioFrom(opts.minio, opts), bucket: opts.bucket, prefix: opts.prefix };
        const result = await restoreMinio(repository, ref, dest, { lockWaitMs: wait });
        const check = opts.verify ? await verifyMinio(repository, ref, dest) : undefined;
        if (flags.json) printJson({ snapshot: ref.id, ...result, verification: check });
        else {
          process.stdout.write(`restored ${result.objects} objects, ${formatBytes(result.bytes)}\n`);
          if (check) process.stdout.write(check.ok ? `verified ${check.objects} objects\n` : `${check.problems.map((p) => `${p.key}: ${p.problem}`).join('\n')}\n`);
        }
        if (check && !check.ok) process.exitCode = EXIT.failure;
        return;
      }

      if (opts.original) {
        const { restoreFiles } = await import('../../engine/targets/files');
        const result = await restoreFiles(repository, ref, { include: opts.include, verify: opts.verify, lockWaitMs: wait });
        if (flags.json) printJson({ snapshot: ref.id, ...result });
        else process.stdout.write(`restored snapshot ${ref.id.slice(0, 8)} to ${result.locations.join(', ')}: ${result.files} files, ${formatBytes(result.bytesWritten)}\n`);
        reportVerification(result.verification, flags.json);
        return;
      }

      const result = await restoreTree(repository, ref, opts.target, { include: opts.include, lockWaitMs: wait });
      const check = opts.verify ? await verifyRestoredTree(repository, ref, opts.target, { include: opts.include }) : undefined;
      if (flags.json) printJson({ snapshot: ref.id, target: opts.target, ...result, verification: check });
      else {
        process.stdout.write(
          `restored snapshot ${ref.id.slice(0, 8)} to ${opts.target}: ${result.files} files, ${result.dirs} directories, ${formatBytes(result.bytesWritten)}\n`,
        );
      }
      reportVerification(check, flags.json);
    });
}

function reportVerification(check: { ok: boolean; files: number; problems: { path: string; problem: string }[] } | undefined, quiet = false): void {
  if (!check) return;
  if (!quiet) {
    if (check.ok) process.stdout.write(`verified ${check.files} files against the snapshot\n`);
    for (const p of check.problems) process.stdout.write(`mismatch: ${p.path}: ${p.problem}\n`);
  }
  if (!check.ok) process.exitCode = EXIT.failure;
}
