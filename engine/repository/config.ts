import { randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../chunker';
import { DEFAULT_LEVEL } from '../compression';

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
  return {
    version: 1,
    id: randomBytes(16).toString('hex'),
    created: new Date().toISOString(),
    chunker: { ...DEFAULT_CHUNKER, seed: randomBytes(32).toString('hex'), ...overrides.chunker },
    compressionLevel: overrides.compressionLevel ?? DEFAULT_LEVEL,
    packSize: overrides.packSize ?? DEFAULT_PACK_SIZE,
  };
}
