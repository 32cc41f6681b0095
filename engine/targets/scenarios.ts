import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backupTree, type BackupOptions } from '../archiver';
import { describeError, InvalidInputError } from '../errors';
import type { Repository } from '../repository/repository';
import { findSnapshot, type SnapshotRef } from '../snapshot';
import { restoreFiles, type FilesRestoreOptions, type FilesRestoreResult } from './files';

/**
 * Scenarios: a root directory whose every subdirectory is one scenario. Each
 * scenario is its own snapshot (target `scenarios`, tag `scenario=<name>`),
 * so one can be listed, kept and restored alone.
 */
export const SCENARIO_TAG = 'scenario';

export async function discoverScenarios(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InvalidInputError(code === 'ENOENT' ? `scenarios root ${root} does not exist` : `scenarios root ${root} cannot be read (${code})`);
  }
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

export interface ScenarioOutcome {
  scenario: string;
  snapshot?: SnapshotRef;
  error?: string;
}

/** Backs up every scenario (or the named ones); one failing does not stop the others. */
export async function backupScenarios(
  repo: Repository,
  root: string,
  opts: Omit<BackupOptions, 'target'> & { only?: string[] } = {},
): Promise<ScenarioOutcome[]> {
  const all = await discoverScenarios(root);
  const names = opts.only?.length ? opts.only : all;
  const outcomes: ScenarioOutcome[] = [];
  for (const scenario of names) {
    if (!all.includes(scenario)) {
      outcomes.push({ scenario, error: `scenario ${JSON.stringify(scenario)} does not exist under ${root}` });
      continue;
    }
    try {
      const snapshot = await backupTree(repo, [path.join(root, scenario)], {
        ...opts,
        target: 'scenarios',
        tags: { ...opts.tags, [SCENARIO_TAG]: scenario },
      });
      outcomes.push({ scenario, snapshot });
    } catch (err) {
      outcomes.push({ scenario, error: describeError(err) });
    }
  }
  return outcomes;
}

/** The latest snapshot of one scenario (or a given one), restored alone. */
export async function restoreScenario(
  repo: Repository,
  scenario: string,
  opts: FilesRestoreOptions & { snapshot?: string } = {},
): Promise<FilesRestoreResult & { snapshot: SnapshotRef }> {
  const ref = await findSnapshot(repo, opts.snapshot ?? 'latest', { target: 'scenarios', tags: { [SCENARIO_TAG]: scenario } });
  if (ref.snapshot.tags[SCENARIO_TAG] !== scenario) {
    throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} is not of scenario ${JSON.stringify(scenario)}`);
  }
  return { ...(await restoreFiles(repo, ref, opts)), snapshot: ref };
}
