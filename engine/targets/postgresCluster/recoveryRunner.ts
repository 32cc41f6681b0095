import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Repository } from '../../repository/repository';
import { restoreCluster, type ClusterRestoreResult, type RecoveryTarget } from './pitr';
import { startRecoveredCluster } from './recover';
import { restoreCommandLine } from './commandLines';

/**
 * Point-in-time recovery as the CLI and the RestoreBackup node run it: the
 * base backup restored with its recovery settings, what PostgreSQL needs to
 * fetch WAL on its own (a restore_command calling our CLI, and a config file
 * it can read), and the optional start. The CLI's command line is the
 * caller's to give: the engine does not know where programs are installed.
 */

/** The settings `repo --config` reads: what restore_command cannot take from an environment. */
export interface RepositoryConfig {
  repository: string;
  passphrase?: string;
  s3?: { endpoint?: string; accessKey?: string; secretKey?: string; region?: string };
}

/** Writes a config file only its owner can read (it holds the passphrase). */
export function writeRepositoryConfig(file: string, config: RepositoryConfig, owner?: string): void {
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  if (owner) {
    const res = spawnSync('chown', [owner, file], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`cannot give ${file} to ${owner}: ${res.stderr.trim()}`);
  }
}

/**
 * Starts the WAL prefetcher of a restored cluster (as its owner, in its data directory) before
 * PostgreSQL: the repository is open and the first segments are in the queue when replay begins.
 * Best effort: without it, the first restore_command starts one.
 */
export function startPrefetcher(walGet: readonly string[], configFile: string, cluster: string, dataDir: string, owner?: string): void {
  const argv = [...walGet, '--config', configFile, '--cluster', cluster, '--start-prefetcher'];
  const [cmd, args] = owner ? ['runuser', ['-u', owner, '--', ...argv]] : [argv[0], argv.slice(1)];
  spawnSync(cmd, args, { cwd: dataDir, stdio: 'ignore', timeout: 10_000 });
}

export interface RecoveryRequest {
  /** the restore_command program's argument vector, e.g. [process.execPath, '/…/dist/cli/wal-get.js'] */
  walGet: readonly string[];
  cluster: string;
  target: RecoveryTarget;
  to: string;
  /** an existing config file for restore_command; otherwise one is written beside the data directory from `config` */
  configFile?: string;
  config?: RepositoryConfig;
  /** start the restored cluster on this port, wait for the target and the promotion */
  startPort?: number;
  /** the system user to own and run it (default postgres when we are root) */
  owner?: string;
  /** the timeline to follow (default: the base backup's) */
  timeline?: 'current' | 'latest' | number;
}

export async function recoverCluster(repo: Repository, req: RecoveryRequest): Promise<ClusterRestoreResult & { recovery: { seconds: number; timeline: number } | null; configFile: string | null }> {
  const owner = req.owner ?? (process.getuid?.() === 0 ? 'postgres' : undefined);
  const to = path.resolve(req.to);
  if (owner) passableParents(to, owner);
  let configFile = req.configFile ? path.resolve(req.configFile) : null;
  let written = false;
  if (!configFile) {
    if (!req.config) throw new Error('recovery needs a repository config for restore_command');
    configFile = `${to}.dbm-recovery.json`;
    writeRepositoryConfig(configFile, req.config, owner);
    written = true;
  }
  const restoreCommand = restoreCommandLine(req.walGet, configFile, req.cluster);
  try {
    const result = await restoreCluster(repo, req.cluster, { target: req.target, to, restoreCommand, owner, timeline: req.timeline });
    let recovery: { seconds: number; timeline: number } | null = null;
    if (req.startPort) {
      startPrefetcher(req.walGet, configFile, req.cluster, to, owner);
      recovery = await startRecoveredCluster(to, { port: req.startPort, runAs: owner });
      // recovery is over: the passphrase need not stay on disk
      if (written) await fs.rm(configFile, { force: true });
    }
    return { ...result, recovery, configFile: recovery && written ? null : configFile };
  } catch (err) {
    if (written) await fs.rm(configFile, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * The folders missing above a cluster's new data directory, made so that its owner may pass through
 * (group of the owner, 0710) and nobody else: the server runs as that user, not as us.
 */
function passableParents(to: string, owner: string): void {
  const missing: string[] = [];
  for (let dir = path.dirname(to); !existsSync(dir); dir = path.dirname(dir)) missing.unshift(dir);
  const gid = Number(spawnSync('id', ['-g', owner], { encoding: 'utf8' }).stdout.trim());
  for (const dir of missing) {
    mkdirSync(dir, { mode: 0o700 });
    if (Number.isInteger(gid) && gid > 0) chownSync(dir, process.getuid?.() ?? 0, gid);
    chmodSync(dir, 0o710);
  }
}
