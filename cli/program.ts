import { Command, CommanderError } from 'commander';
import { describeError } from '../engine';
import { EXIT, exitCodeFor } from './exitCodes';
import { registerControl } from './control';
import { registerRepo } from './repo';
import { registerStack } from './stack';

export function buildProgram(): Command {
  const program = new Command('data-backup-manager')
    .description('Encrypted, deduplicated backups of PostgreSQL, files and MinIO buckets')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .option('--api-url <url>', 'the API server (default: DBM_API_URL, the config file, or https://127.0.0.1:20010)')
    .option('--token <token>', 'an API token (default: DBM_API_TOKEN or the config file)')
    .option('--ca <file>', "a CA certificate to trust for the API (default: DBM_API_CA or the config file's \"ca\"; the stack's is <data>/secrets/tls-cert.pem)")
    .exitOverride();
  registerControl(program);
  registerRepo(program);
  registerStack(program);
  // Sub-commands exit through our handler too.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Runs the CLI: one line per error, exit codes from exitCodes.ts, no stack traces. */
export async function run(argv: string[]): Promise<void> {
  const program = buildProgram();
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
  }
}
