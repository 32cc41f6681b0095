import type { Command } from 'commander';
import { targetNames, targets } from '../../engine/targets/registry';
import { csv } from '../options';

/** The flag for a source field: `scenarios_root` → `--scenarios-root`, and commander's camelCase key. */
const flagOf = (field: string) => ({ flag: `--${field.replace(/_/g, '-')}`, key: field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) });

/** The targets a backup can name, for help texts. */
export const targetList = (): string => targetNames().join(',');

/**
 * What a backup takes from, per target, from the target registry: `backup` and
 * `schedule create` share these flags (`--paths`, `--databases`, `--buckets`, `--cluster`, `--scenarios` …).
 */
export function withSourceOptions(cmd: Command): Command {
  const seen = new Set<string>();
  for (const t of targets()) {
    for (const f of t.fields) {
      if (f.settingOnly || seen.has(f.name)) continue;
      seen.add(f.name);
      const { flag } = flagOf(f.name);
      const fallback = f.required?.setting ? ` (default: the server's ${f.required.setting}${f.required.fallback ? `, or ${f.required.fallback}` : ''})` : '';
      if (f.list) cmd.option(`${flag} <list>`, `${t.name}: ${f.description}, comma-separated${fallback}`, csv);
      else cmd.option(`${flag} <value>`, `${t.name}: ${f.description}${fallback}`);
    }
  }
  return cmd;
}

/** The request's source fields from the flags (left out when not given). */
export function sourceFields(opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const t of targets()) for (const f of t.fields) if (!f.settingOnly) out[f.name] = opts[flagOf(f.name).key];
  return out;
}
