#!/usr/bin/env node
/** Entry point of `data-backup-manager`. Checks the runtime before loading anything that needs it. */
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`error: data-backup-manager needs Node.js >= 22.15 (zstd); this is ${process.version}\n`);
  process.exit(1);
}

void import('./program').then(({ run }) => run(process.argv));
