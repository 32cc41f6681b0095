/**
 * Errors the engine raises on purpose. Each carries a message meant for an
 * operator (one line, names the thing that is wrong); callers map the class to
 * an exit code or HTTP status and never need to show a stack trace.
 */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Writing to the repository's storage failed (after retries). */
export class StorageError extends BackupError {}

/** The repository (its config object) does not exist at the given location. */
export class RepositoryNotFoundError extends BackupError {}

/** No key slot opens with the given passphrase or recovery key. */
export class WrongKeyError extends BackupError {}

/** Another process holds a lock that conflicts with the one we need. */
export class RepositoryLockedError extends BackupError {}

/** Stored data failed authentication, parsing or a hash check. */
export class CorruptionError extends BackupError {}

/** An object that should exist is missing from storage. */
export class NotFoundError extends BackupError {}

/** Input that the caller gave is invalid (bad id, bad policy, bad path). */
export class InvalidInputError extends BackupError {}

/** `init` where a repository already is (or another process made one a moment before). */
export class RepositoryExistsError extends InvalidInputError {}

/** A backup was cancelled, or ran over its size or time budget: nothing was committed. */
export class BackupCancelledError extends BackupError {}

/** A snapshot's content would escape the restore target (../, absolute, symlink). */
export class UnsafePathError extends BackupError {}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
