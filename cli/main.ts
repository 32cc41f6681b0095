#!/usr/bin/env -S MALLOC_ARENA_MAX=2 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --max-semi-space-size=2 --heap-growing-percent=10
/**
 * Entry point of `data-backup-manager`. Checks the runtime before loading anything that needs it:
 * on a Node too old (the system's Node 20, say), it runs itself again on the Node 24 the project
 * pins in node_modules (`npm ci` installs it), or says what it needs.
 *
 * The first line sets what can only be set at start, for speed and memory (bench:engine, issue 15):
 * - glibc asks the kernel for transparent huge pages for what it allocates (where THP is in
 *   `madvise` mode, Debian's default). scrypt's 32 MiB then takes ~100 page faults, not 8,192, and
 *   few TLB misses: opening a repository 180 -> 65-110 ms (`repo snapshots` 336 -> 234 ms). Chunk,
 *   pack and restore buffers gain too: mixed tree backup -10 %, unchanged -20 %, restore -15-20 %,
 *   the 2 GiB tree's backup -12 %. Programs this one starts do not inherit it (see below).
 * - V8's young generation is capped at 2 MiB a semi-space: left to itself it grew to 128 MiB during
 *   a backup of 100,000 small files, for no gain in speed (16 MiB cost ~20 MiB more than 4; with
 *   huge pages, 4 put that backup at ~152 MiB, 2 at ~142 for the same time).
 * - The old generation grows by 10 % between full collections, not V8's default of up to 2x: the
 *   engine's live heap is small and most of what it promotes is garbage (~30 MiB saved).
 * - glibc keeps two malloc arenas, not one per thread that ever allocated (up to 8 per core):
 *   memory freed in one arena is not reused by another (~15 MiB saved on small files). Programs
 *   this one starts (pg_dump, n8n) inherit it; it only bounds their allocator's arenas too. A value
 *   of one's own in the environment (either) is overridden: run `node dist/cli/main.js` to keep it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import * as path from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  const root = path.join(__dirname, '..', '..');
  const pinned = path.join(root, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(pinned) && !process.env.DBM_NODE_REEXEC) {
    const child = spawn(pinned, [...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, DBM_NODE_REEXEC: '1' } });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
    child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
  } else {
    process.stderr.write(
      `error: data-backup-manager needs Node.js >= 22.15 (for zstd); this is ${process.version} at ${process.execPath}.\n` +
        `Install Node.js 24 (https://nodejs.org/en/download), or run \`npm ci\` in ${root}, which puts one in its node_modules for this program to use.\n`,
    );
    process.exit(1);
  }
} else {
  // huge pages were for this process (see the first line): its children get the environment they had
  if (process.env.GLIBC_TUNABLES === 'glibc.malloc.hugetlb=1') delete process.env.GLIBC_TUNABLES;
  // V8's compiled code kept between runs, beside the installed program (not in a shared /tmp, where
  // another user could plant it): start-up compiles nothing it compiled before
  module.enableCompileCache?.(path.join(__dirname, '..', '..', 'node_modules', '.cache', 'dbm-compile-cache'));
  void import('./program').then(({ run }) => run(process.argv));
}
