import { describe, expect, it } from 'vitest';
import { buildProgram, groupsFor } from '../../cli/program';

const argv = (...args: string[]) => ['node', 'data-backup-manager', ...args];
const names = async (args: string[]) => (await buildProgram(argv(...args))).commands.map((c) => c.name());

describe('the CLI loads only the command group it runs', () => {
  it('picks the group from the first word that is not an option or an option value', () => {
    expect(groupsFor(argv('repo', 'snapshots'))).toEqual({ control: false, repo: true, stack: false });
    expect(groupsFor(argv('--token', 'repo', 'status'))).toEqual({ control: true, repo: false, stack: false }); // "repo" is the token
    expect(groupsFor(argv('--api-url', 'https://x', 'stack', 'start'))).toEqual({ control: false, repo: false, stack: true });
    expect(groupsFor(argv('jobs', 'list'))).toEqual({ control: true, repo: false, stack: false });
    expect(groupsFor(argv('--version'))).toEqual({ control: false, repo: false, stack: false });
  });

  it('lists every command for help, with or without "help"', async () => {
    for (const args of [[], ['--help'], ['help'], ['help', 'repo']]) {
      expect(await names(args)).toEqual(expect.arrayContaining(['status', 'backup', 'jobs', 'repo', 'stack']));
    }
  });

  it('registers only the repo commands the arguments name, and every one for help', async () => {
    const repoCommands = async (args: string[]) =>
      (await buildProgram(argv(...args))).commands.find((c) => c.name() === 'repo')!.commands.map((c) => c.name());
    expect(await repoCommands(['repo', 'snapshots', '--json'])).toEqual(['snapshots']);
    expect(await repoCommands(['repo', 'prune'])).toEqual(['forget', 'prune']); // one module, two commands
    // a word that is a command's name but an option's value here: both are there, the right one runs
    expect(await repoCommands(['repo', '--repo', 'init', 'snapshots'])).toEqual(['init', 'snapshots']);
    for (const args of [['repo', '--help'], ['repo', 'snapshots', '--help'], ['help', 'repo'], ['repo']]) {
      expect(await repoCommands(args)).toEqual(expect.arrayContaining(['init', 'backup', 'restore', 'snapshots', 'check', 'forget', 'prune', 'key', 'wal-push', 'wal-config']));
    }
  });

  it('still names an unknown command as one', async () => {
    expect(await names(['nonsense'])).toContain('status');
    expect(await names(['repo', 'nonsense'])).toEqual(['repo']);
  });
});
