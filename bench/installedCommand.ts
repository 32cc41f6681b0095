import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '../cli/main.js');

/**
 * `data-backup-manager` the way the installed command starts it: env(1) with
 * the settings of the program's first line (`#!/usr/bin/env -S NAME=value node
 * --flag …`), this Node.js with its flags, then the program. So a bench times
 * what a user runs, settings included, without npm and without needing the
 * file to be executable.
 */
export function installedCommand(...args: string[]): [string, string[]] {
  return commandLine(CLI, ...args);
}

/** The same for the program at `cli` (the tests' build of it, say). */
export function commandLine(cli: string, ...args: string[]): [string, string[]] {
  const shebang = readFileSync(cli, 'utf8').split('\n', 1)[0];
  const words = shebang.replace(/^#!\S*env\s+(-S\s+)?/, '').split(/\s+/).filter(Boolean);
  const node = words.indexOf('node');
  if (node < 0) throw new Error(`${cli}: its first line does not run node: ${shebang}`);
  return ['/usr/bin/env', [...words.slice(0, node), process.execPath, ...words.slice(node + 1), cli, ...args]];
}
