import {
  InvalidInputError,
  RepositoryLockedError,
  RepositoryNotFoundError,
  UnsafePathError,
  WrongKeyError,
} from '../../engine';

/** Exit codes scripts can trust; the repository ones are restic's. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  noRepository: 10,
  locked: 11,
  wrongKey: 12,
} as const;

export class UsageError extends Error {}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof InvalidInputError || err instanceof UnsafePathError) {
    return err instanceof UnsafePathError ? EXIT.failure : EXIT.usage;
  }
  if (err instanceof RepositoryNotFoundError) return EXIT.noRepository;
  if (err instanceof RepositoryLockedError) return EXIT.locked;
  if (err instanceof WrongKeyError) return EXIT.wrongKey;
  return EXIT.failure;
}
