import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { promises as fs } from 'node:fs';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { forEachLimit } from '../../engine/concurrency';
import { checkClusterName, pushWal } from '../../engine/targets';
import { spoolBacklog } from '../../engine/targets/postgresCluster/walSpool';
import { EXIT, ExitError } from '../exitCodes';
import { formatBytes } from '../output';
import { wholeNumber } from '../options';
import { flagsOf, openRepo } from './context';

/** `repo wal-uploader`: stores what asynchronous archiving left in the spool. */
export function registerWalUploader(repo: Command): void {
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
      const parallel = Math.max(1, wholeNumber('--parallel')(opts.parallel));
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
}
