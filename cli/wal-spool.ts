#!/usr/bin/env node
/**
 * `wal-spool <spool dir> <wal file> [max bytes]`: the archive_command of
 * asynchronous archiving. It loads nothing but the file system, so a segment
 * costs a process start of ~20 ms instead of the whole CLI's ~200 ms.
 * Exit 0 when the segment is safely queued; 1 (with the reason) otherwise.
 */
import { spoolWal } from '../engine/targets/postgresCluster/walSpool';

async function main(): Promise<void> {
  const [spool, file, max] = process.argv.slice(2);
  if (!spool || !file) {
    process.stderr.write('usage: wal-spool <spool dir> <wal file> [max bytes]\n');
    process.exitCode = 2;
    return;
  }
  await spoolWal(file, spool, max ? Number(max) : undefined);
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
