import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '../cli/main.js');

/**
 * `data-backup-manager` the way the installed command starts it: this Node.js
 * with the flags of the program's first line (`#!/usr/bin/env -S node …`), then
 * the program. So a bench times what a user runs, flags included, without npm
 * and without needing the file to be executable.
 */
export function installedCommand(...args: string[]): [string, string[]] {
  const shebang = readFileSync(CLI, 'utf8').split('\n', 1)[0];
  const flags = shebang.replace(/^#!\S*env\s+(-S\s+)?node\s*/, '').split(/\s+/).filter(Boolean);
  return [process.execPath, [...flags, CLI, ...args]];
}
