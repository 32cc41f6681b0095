import { InvalidInputError } from './errors';

/**
 * Keep-policies in restic's terms. Snapshots are grouped (by target, and by
 * tags when asked); within a group, newest first, a snapshot is kept when any
 * rule wants it, and every rule says why. Buckets use UTC calendar periods;
 * `within` counts back from the group's newest snapshot, so a stalled backup
 * schedule never ages every snapshot out.
 */
export interface RetentionPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** milliseconds */
  withinMs?: number;
}

export interface Dated {
  id: string;
  time: string;
  group: string;
}

export interface Decision<T extends Dated> {
  item: T;
  keep: boolean;
  reasons: string[];
}

const BUCKETS: { rule: keyof RetentionPolicy; label: string; key: (d: Date) => string }[] = [
  { rule: 'hourly', label: 'hourly', key: (d) => d.toISOString().slice(0, 13) },
  { rule: 'daily', label: 'daily', key: (d) => d.toISOString().slice(0, 10) },
  { rule: 'weekly', label: 'weekly', key: isoWeek },
  { rule: 'monthly', label: 'monthly', key: (d) => d.toISOString().slice(0, 7) },
  { rule: 'yearly', label: 'yearly', key: (d) => d.toISOString().slice(0, 4) },
];

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'withinMs'].every(
    (k) => p[k as keyof RetentionPolicy] === undefined,
  );
}

export function applyPolicy<T extends Dated>(items: T[], policy: RetentionPolicy): Decision<T>[] {
  if (isEmptyPolicy(policy)) throw new InvalidInputError('no keep rule given: refusing to forget every snapshot');
  for (const [k, v] of Object.entries(policy)) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new InvalidInputError(`keep rule ${k} must be a whole number >= 0`);
  }
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const g = groups.get(item.group) ?? [];
    g.push(item);
    groups.set(item.group, g);
  }
  const decisions: Decision<T>[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? 1 : -1));
    const newest = Date.parse(group[0].time);
    const remaining = new Map(BUCKETS.map((b) => [b.rule, policy[b.rule] ?? 0]));
    const lastKey = new Map<string, string>();
    group.forEach((item, position) => {
      const time = new Date(item.time);
      const reasons: string[] = [];
      if (policy.last !== undefined && position < policy.last) reasons.push(`last ${policy.last}`);
      for (const b of BUCKETS) {
        const left = remaining.get(b.rule)!;
        if (left <= 0) continue;
        const key = b.key(time);
        if (lastKey.get(b.rule) !== key) {
          lastKey.set(b.rule, key);
          remaining.set(b.rule, left - 1);
          reasons.push(`${b.label} ${key}`);
        }
      }
      if (policy.withinMs !== undefined && newest - time.getTime() <= policy.withinMs) {
        reasons.push(`within ${formatDuration(policy.withinMs)} of newest`);
      }
      decisions.push({ item, keep: reasons.length > 0, reasons });
    });
  }
  return decisions;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86400000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** Parses durations like `30s`, `30d`, `12h`, `2w`, `1y2d` into milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+)([smhdwy])/g;
  if (!/^(\d+[smhdwy])+$/.test(text)) throw new InvalidInputError(`duration ${JSON.stringify(text)} is not like 30s, 12h, 30d, 2w or 1y`);
  let total = 0;
  for (const m of text.matchAll(re)) total += Number(m[1]) * UNITS[m[2]];
  return total;
}

export function formatDuration(ms: number): string {
  for (const unit of ['y', 'w', 'd', 'h', 'm', 's']) {
    if (ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
