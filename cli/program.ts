import { Command, CommanderError } from 'commander';
import { describeError } from '../engine/errors';
import { EXIT, exitCodeFor } from './exitCodes';

/** Global options that take a value: their value is not a command name. */
const VALUED = new Set(['--api-url', '--token', '--ca']);

/**
 * The command groups an argument vector needs: only the named group's
 * modules load (`repo` never loads the API client, `status` never the engine's
 * targets); help without a command, and nothing at all, lists every group.
 */
export function groupsFor(argv: string[]): { control: boolean; repo: boolean; stack: boolean } {
  const args = argv.slice(2);
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (VALUED.has(args[i])) i++;
    else if (!args[i].startsWith('-')) {
      command = args[i];
      break;
    }
  }
  if (command === undefined || command === 'help') {
    const versionOnly = command === undefined && (args.includes('--version') || args.includes('-V'));
    return { control: !versionOnly, repo: !versionOnly, stack: !versionOnly };
  }
  return { control: command !== 'repo' && command !== 'stack', repo: command === 'repo', stack: command === 'stack' };
}

export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('data-backup-manager')
    .description('Encrypted, deduplicated backups of PostgreSQL, files and MinIO buckets')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .option('--api-url <url>', 'the API server (default: DBM_API_URL, the config file, or https://127.0.0.1:20010)')
    .option('--token <token>', 'an API token (default: DBM_API_TOKEN or the config file)')
    .option('--ca <file>', "a CA certificate to trust for the API (default: DBM_API_CA or the config file's \"ca\"; the stack's is <data>/secrets/tls-cert.pem)")
    .exitOverride();
  // loaded on demand: most of the start-up time of a command is loading modules it does not use
  const groups = groupsFor(argv);
  if (groups.control) (await import('./control')).registerControl(program);
  if (groups.repo) await (await import('./repo')).registerRepo(program, argv);
  if (groups.stack) (await import('./stack')).registerStack(program);
  // Sub-commands exit through our handler too.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/**
 * Node ends a process whose event loop has nothing left to wait on, with
 * exit 0, even while a command's promise is unsettled: a step that waits on
 * something that can no longer happen (a bug) would look like success with
 * nothing done. This makes it a failure that says so.
 */
function failIfUnfinished(): void {
  process.stderr.write('error: the command stopped before it finished (it waited on something that cannot happen any more: a bug); what it did not report as done is not done\n');
  process.exitCode = EXIT.failure;
}

/** Runs the CLI: one line per error, exit codes from exitCodes.ts, no stack traces. */
export async function run(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  process.once('beforeExit', failIfUnfinished);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message; help and version are not failures
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.stderr.write(`error: ${describeError(err)}\n`);
    if (process.env.DBM_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = exitCodeFor(err);
  } finally {
    process.off('beforeExit', failIfUnfinished);
  }
}
