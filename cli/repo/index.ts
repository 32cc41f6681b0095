import type { Command } from 'commander';
import { registerBackup } from './backup';
import { registerCheck } from './check';
import { addRepoFlags } from './context';
import { registerForget } from './forget';
import { registerInit } from './init';
import { registerKey } from './key';
import { registerPitr } from './pitr';
import { registerRestore } from './restore';
import { registerSnapshots } from './snapshots';
import { registerUnlock } from './unlock';

/** `repo …`: work on a repository directly, with no server, n8n or catalog (disaster recovery). */
export function registerRepo(program: Command): void {
  const repo = addRepoFlags(program.command('repo').description('work on a backup repository directly (no server needed)'));
  registerInit(repo);
  registerBackup(repo);
  registerRestore(repo);
  registerSnapshots(repo);
  registerCheck(repo);
  registerForget(repo);
  registerKey(repo);
  registerUnlock(repo);
  registerPitr(repo);
}
