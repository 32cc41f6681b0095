import type { Command } from 'commander';
import { addRepoFlags } from './context';

type Register = (repo: Command) => void;

/**
 * The `repo` commands by name, each module loaded only when asked for: most
 * of a command's start-up was loading every other command's modules (and, through
 * them, the whole engine). Order is the help's.
 */
const COMMANDS: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['init'], load: async () => (await import('./init')).registerInit },
  { names: ['backup'], load: async () => (await import('./backup')).registerBackup },
  { names: ['restore'], load: async () => (await import('./restore')).registerRestore },
  { names: ['snapshots'], load: async () => (await import('./snapshots')).registerSnapshots },
  { names: ['check'], load: async () => (await import('./check')).registerCheck },
  { names: ['forget', 'prune'], load: async () => (await import('./forget')).registerForget },
  { names: ['key'], load: async () => (await import('./key')).registerKey },
  { names: ['unlock'], load: async () => (await import('./unlock')).registerUnlock },
  // PostgreSQL clusters: base backups are `repo backup --postgres-cluster` and restores `repo restore --postgres-cluster`
  { names: ['wal-push'], load: async () => (await import('./walPush')).registerWalPush },
  { names: ['wal-archiver'], load: async () => (await import('./walArchiver')).registerWalArchiver },
  { names: ['wal-fetch'], load: async () => (await import('./walFetch')).registerWalFetch },
  { names: ['wal-prefetch'], load: async () => (await import('./walPrefetch')).registerWalPrefetch },
  { names: ['wal-uploader'], load: async () => (await import('./walUploader')).registerWalUploader },
  { names: ['pitr-window'], load: async () => (await import('./pitrWindow')).registerPitrWindow },
  { names: ['pitr-retention'], load: async () => (await import('./pitrRetention')).registerPitrRetention },
  { names: ['wal-commands'], load: async () => (await import('./walCommands')).registerWalCommands },
  { names: ['wal-config'], load: async () => (await import('./walConfig')).registerWalConfig },
];

/**
 * `repo …`: work on a repository directly, with no server, n8n or catalog (disaster recovery).
 * With `argv`, only the commands it names are registered (any word of it that is a command's
 * name, so an option's value cannot hide the command); every one for help, or when it names none
 * (commander then says the command is unknown and lists them).
 */
export async function registerRepo(program: Command, argv?: string[]): Promise<void> {
  const repo = addRepoFlags(program.command('repo').description('work on a backup repository directly (no server needed)'));
  const words = new Set(argv?.slice(2) ?? []);
  const help = ['help', '--help', '-h'].some((w) => words.has(w));
  const named = COMMANDS.filter((c) => c.names.some((n) => words.has(n)));
  const registers = await Promise.all((help || named.length === 0 ? COMMANDS : named).map((c) => c.load()));
  for (const register of registers) register(repo);
}
