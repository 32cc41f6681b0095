import {
  InvalidInputError,
  RepositoryLockedError,
  RepositoryNotFoundError,
  UnsafePathError,
  WrongKeyError,
} from '../engine/errors';

/** Exit codes scripts can trust; the repository ones are restic's. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** the API server cannot be reached */
  unreachable: 3,
  /** the API refused the token (missing, unknown, or without the role) */
  unauthorized: 4,
  noRepository: 10,
  locked: 11,
  wrongKey: 12,
} as const;

export class UsageError extends Error {}

/** A failure the CLI reports with its own exit code (API answers, unreachable server, failed job). */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ExitError) return err.code;
  if (err instanceof UsageError || err instanceof InvalidInputError || err instanceof UnsafePathError) {
    return err instanceof UnsafePathError ? EXIT.failure : EXIT.usage;
  }
  if (err instanceof RepositoryNotFoundError) return EXIT.noRepository;
  if (err instanceof RepositoryLockedError) return EXIT.locked;
  if (err instanceof WrongKeyError) return EXIT.wrongKey;
  return EXIT.failure;
}
