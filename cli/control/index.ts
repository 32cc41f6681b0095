import type { Command } from 'commander';
import { registerAudit } from './audit';
import { registerBackup } from './backup';
import { registerCatalog } from './catalog';
import { registerCleanup } from './cleanup';
import { registerJobs } from './jobs';
import { registerList } from './list';
import { registerRestore } from './restore';
import { registerSchedules } from './schedules';
import { registerStatus } from './status';
import { registerTokens } from './tokens';
import { registerVerify } from './verify';

/** The commands that call the API, one file each, in the order `--help` lists them. */
export function registerControl(program: Command): void {
  for (const register of [registerStatus, registerBackup, registerRestore, registerList, registerVerify, registerCleanup, registerCatalog, registerJobs, registerAudit, registerSchedules, registerTokens]) {
    register(program);
  }
}
