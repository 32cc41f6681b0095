import { randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../chunker';
import { DEFAULT_LEVEL, MAX_LEVEL } from '../compression';
import { InvalidInputError } from '../errors';

/** Repository-wide settings, sealed in the `config` object at init and never changed. */
export interface RepoConfig {
  version: 1;
  id: string;
  created: string;
  chunker: ChunkerParams;
  compressionLevel: number;
  /** A pack is closed once it reaches this many bytes. */
  packSize: number;
}

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

export function newConfig(overrides: Partial<Pick<RepoConfig, 'compressionLevel' | 'packSize'>> & { chunker?: Partial<ChunkerParams> } = {}): RepoConfig {
  const level = overrides.compressionLevel ?? DEFAULT_LEVEL;
  // sealed for the repository's life: a level its backups could not hold to their memory bound is refused now
  if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) throw new InvalidInputError(`compression level must be from 0 (off) to ${MAX_LEVEL}, not ${level}`);
  return {
    version: 1,
    id: randomBytes(16).toString('hex'),
    created: new Date().toISOString(),
    chunker: { ...DEFAULT_CHUNKER, seed: randomBytes(32).toString('hex'), ...overrides.chunker },
    compressionLevel: level,
    packSize: overrides.packSize ?? DEFAULT_PACK_SIZE,
  };
}
