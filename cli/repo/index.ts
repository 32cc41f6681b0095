import type { Command } from 'commander';
import { registerBackup } from './backup';
import { registerCheck } from './check';
import { addRepoFlags } from './context';
import { registerForget } from './forget';
import { registerInit } from './init';
import { registerKey } from './key';
import { registerPitrRetention } from './pitrRetention';
import { registerPitrWindow } from './pitrWindow';
import { registerRestore } from './restore';
import { registerSnapshots } from './snapshots';
import { registerUnlock } from './unlock';
import { registerWalArchiver } from './walArchiver';
import { registerWalCommands } from './walCommands';
import { registerWalConfig } from './walConfig';
import { registerWalFetch } from './walFetch';
import { registerWalPrefetch } from './walPrefetch';
import { registerWalPush } from './walPush';
import { registerWalUploader } from './walUploader';

/** `repo …`: work on a repository directly, with no server, n8n or catalog (disaster recovery). */
export function registerRepo(program: Command): void {
  const repo = addRepoFlags(program.command('repo').description('work on a backup repository directly (no server needed)'));
  // PostgreSQL clusters: base backups are `repo backup --postgres-cluster` and restores `repo restore --postgres-cluster`
  const commands = [registerInit, registerBackup, registerRestore, registerSnapshots, registerCheck, registerForget, registerKey, registerUnlock];
  const pitr = [registerWalPush, registerWalArchiver, registerWalFetch, registerWalPrefetch, registerWalUploader, registerPitrWindow, registerPitrRetention, registerWalCommands, registerWalConfig];
  for (const register of [...commands, ...pitr]) register(repo);
}
