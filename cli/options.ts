import { UsageError } from './exitCodes';

/**
 * Option parsers shared by every command: each turns a flag's text into a
 * value or a UsageError naming the flag (exit 2, one line).
 */

/** A comma-separated value as a list, blanks dropped. */
export const csv = (value: string): string[] =>
  value
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** A whole number (0 or more), as commander's parser for `flag`: `wholeNumber('--limit')`. */
export const wholeNumber =
  (flag: string) =>
  (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag} takes a whole number, not ${JSON.stringify(value)}`);
    return Number(value);
  };

/** A percentage from 0 to 100 (`5` or `5%`). */
export const percent =
  (flag: string) =>
  (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)%?$/.exec(value.trim());
    if (!m || Number(m[1]) > 100) throw new UsageError(`${flag} takes a percentage from 0 to 100, not ${JSON.stringify(value)}`);
    return Number(m[1]);
  };

/** Days, as `30` or `30d`, at least 1. */
export const days =
  (flag: string) =>
  (value: string): number => {
    const m = /^(\d+)d?$/.exec(value.trim());
    if (!m || Number(m[1]) < 1) throw new UsageError(`${flag} ${value}: give days, e.g. 30 or 30d`);
    return Number(m[1]);
  };

/** A repeatable flag: each use adds to the list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `key=value` tags from a repeatable flag. */
export function parseTags(values: string[] = []): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`tag ${JSON.stringify(v)} is not key=value`);
    tags[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return tags;
}
