import * as path from 'node:path';

/** The small programs PostgreSQL runs for us, shipped beside the CLI: argument vectors for its settings. */

/** The synchronous archive_command: in front of the resident archiver (`repo wal-archiver`). */
export function walArchiveArgv(): string[] {
  return [process.execPath, path.join(__dirname, 'wal-archive.js')];
}

/** The restore_command: in front of the WAL prefetcher (`repo wal-prefetch`). */
export function walGetArgv(): string[] {
  return [process.execPath, path.join(__dirname, 'wal-get.js')];
}

/** The asynchronous archive_command: a copy into the spool (`repo wal-uploader` stores it). */
export function walSpoolArgv(): string[] {
  return [process.execPath, path.join(__dirname, 'wal-spool.js')];
}
