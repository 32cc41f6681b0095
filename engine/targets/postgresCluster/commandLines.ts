import { WAL_ARCHIVE_DIR } from './walArchiver';
import { WAL_QUEUE_DIR } from './walQueue';

/**
 * The command lines PostgreSQL runs through sh, in the data directory, once
 * per WAL file. Each answers from the file system when the resident helper
 * (walArchiver.ts, walPrefetcher.ts) has the answer ready, so no process of
 * ours starts per segment; anything else goes to the small program that asks
 * the helper and starts it when needed. The programs' argument vectors are
 * the caller's to give: the engine does not know where they are installed.
 */

/** A word for a command PostgreSQL runs through sh: quoted, never interpolated. */
export function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A program's argument vector as one command line. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellWord).join(' ');
}

/**
 * archive_command. PostgreSQL asks for a segment the moment it is complete
 * and marked ready; the archiver, which watches for ready segments, is then
 * already storing it. So while the archiver runs, the shell waits (up to
 * 5 s) for the segment's `.done` and takes it: no process of ours starts
 * per segment. Otherwise — no archiver yet, or it died, or storing failed —
 * wal-archive hands the segment over, starts an archiver if needed, and waits
 * until the segment is stored or says why not.
 */
export function archiveCommandLine(walArchive: readonly string[], configFile: string, cluster: string): string {
  const q = WAL_ARCHIVE_DIR;
  const wait = `i=0; while :; do [ -e ${q}/%f.done ] && rm -f ${q}/%f.done && exit 0; [ -e ${q}/archiver.pid ] && [ $i -lt 200 ] || break; sleep 0.025; i=$((i+1)); done`;
  return `${wait}; ${commandLine(walArchive)} --config ${shellWord(configFile)} --cluster ${shellWord(cluster)} %p`;
}

/**
 * restore_command: a segment the prefetcher has ready is a plain mv, a file
 * it knows to be missing a plain exit 1; anything else goes to wal-get.
 */
export function restoreCommandLine(walGet: readonly string[], configFile: string, cluster: string): string {
  const q = WAL_QUEUE_DIR;
  return `mv ${q}/%f %p 2>/dev/null && { : > ${q}/took/%f; exit 0; }; rm ${q}/%f.missing 2>/dev/null && exit 1; ${commandLine(walGet)} --config ${shellWord(configFile)} --cluster ${shellWord(cluster)} %f %p`;
}
