import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_BY, groupOf } from '../../engine/forget';
import { applyPolicy, parseDuration, type RetentionPolicy } from '../../engine/retention';
import type { SnapshotRef } from '../../engine/snapshot';

function snaps(times: string[], group = 'g'): { id: string; time: string; group: string }[] {
  return times.map((time, i) => ({ id: `s${i}`, time, group }));
}

function kept(times: string[], policy: RetentionPolicy): string[] {
  return applyPolicy(snaps(times), policy)
    .filter((d) => d.keep)
    .map((d) => d.item.time)
    .sort();
}

// Every 6 hours for 60 days, ending 2026-03-01T18:00Z.
const sixHourly = Array.from({ length: 240 }, (_, i) => new Date(Date.parse('2026-03-01T18:00:00Z') - i * 6 * 3600_000).toISOString());

describe('retention policy', () => {
  const cases: { name: string; times: string[]; policy: RetentionPolicy; expected: string[] }[] = [
    {
      name: 'keep-last keeps the newest n',
      times: ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z'],
      policy: { last: 2 },
      expected: ['2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z'],
    },
    {
      name: 'keep-daily keeps the newest of each day',
      times: ['2026-01-01T01:00:00Z', '2026-01-01T23:00:00Z', '2026-01-02T05:00:00Z', '2026-01-02T06:00:00Z', '2026-01-03T00:00:00Z'],
      policy: { daily: 2 },
      expected: ['2026-01-02T06:00:00Z', '2026-01-03T00:00:00Z'],
    },
    {
      name: 'keep-hourly buckets by hour',
      times: ['2026-01-01T01:10:00Z', '2026-01-01T01:50:00Z', '2026-01-01T02:05:00Z'],
      policy: { hourly: 5 },
      expected: ['2026-01-01T01:50:00Z', '2026-01-01T02:05:00Z'],
    },
    {
      name: 'keep-weekly uses ISO weeks (Mon–Sun)',
      // Sun 4 Jan and Mon 5 Jan 2026 are in different ISO weeks; Tue 6 Jan shares Monday's week.
      times: ['2026-01-04T12:00:00Z', '2026-01-05T12:00:00Z', '2026-01-06T12:00:00Z'],
      policy: { weekly: 2 },
      expected: ['2026-01-04T12:00:00Z', '2026-01-06T12:00:00Z'],
    },
    {
      name: 'keep-monthly and keep-yearly',
      times: ['2024-06-01T00:00:00Z', '2025-01-15T00:00:00Z', '2025-01-20T00:00:00Z', '2025-02-01T00:00:00Z', '2025-12-31T00:00:00Z'],
      policy: { monthly: 2, yearly: 2 },
      expected: ['2024-06-01T00:00:00Z', '2025-02-01T00:00:00Z', '2025-12-31T00:00:00Z'],
    },
    {
      name: 'keep-within counts back from the newest snapshot, not from now',
      times: ['2020-01-01T00:00:00Z', '2020-01-05T00:00:00Z', '2020-01-09T00:00:00Z', '2020-01-10T00:00:00Z'],
      policy: { withinMs: parseDuration('5d') },
      expected: ['2020-01-05T00:00:00Z', '2020-01-09T00:00:00Z', '2020-01-10T00:00:00Z'],
    },
    {
      name: 'rules combine as a union',
      times: ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-03T01:00:00Z'],
      policy: { last: 1, daily: 2 },
      expected: ['2026-01-02T00:00:00Z', '2026-01-03T01:00:00Z'],
    },
    {
      name: 'a realistic 7 daily + 4 weekly + 2 monthly over 60 days of 6-hourly backups',
      times: sixHourly,
      policy: { daily: 7, weekly: 4, monthly: 2 },
      expected: [
        // newest of each of the last 7 days
        ...['02-23', '02-24', '02-25', '02-26', '02-27', '02-28', '03-01'].map((d) => `2026-${d}T18:00:00.000Z`),
        // newest of ISO weeks W09 (ends Sun 1 Mar, a daily already), W08, W07, W06
        '2026-02-08T18:00:00.000Z', '2026-02-15T18:00:00.000Z', '2026-02-22T18:00:00.000Z',
        // the 2 monthly buckets are March and February, both held by dailies: January goes
      ].sort(),
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(kept(c.times, c.policy)).toEqual(c.expected);
    });
  }

  it('applies the policy per group', () => {
    const items = [...snaps(['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'], 'a'), ...snaps(['2026-01-01T00:00:00Z'], 'b')];
    const decisions = applyPolicy(items, { last: 1 });
    expect(decisions.filter((d) => d.keep).map((d) => `${d.item.group}:${d.item.time}`).sort()).toEqual([
      'a:2026-01-02T00:00:00Z',
      'b:2026-01-01T00:00:00Z',
    ]);
  });

  it('says why each snapshot is kept', () => {
    const [newest] = applyPolicy(snaps(['2026-01-03T00:00:00Z']), { last: 1, daily: 1 });
    expect(newest.reasons).toEqual(['last 1', 'daily 2026-01-03']);
  });

  it('refuses an empty policy instead of forgetting everything', () => {
    expect(() => applyPolicy(snaps(['2026-01-01T00:00:00Z']), {})).toThrow(/no keep rule/);
  });

  it('parses durations and rejects nonsense', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('1w2d')).toBe(9 * 86_400_000);
    expect(() => parseDuration('thirty days')).toThrow(/not like/);
  });
});

describe('retention groups', () => {
  const ref = (target: string, paths: string[], tags: Record<string, string>) => ({ snapshot: { target, paths, tags, hostname: 'h' } }) as unknown as SnapshotRef;

  it('groups by source: target, what was read and the tags that name a source, never the job that made it', () => {
    const a = groupOf(ref('files', ['/srv/app'], { job: 'job_1' }), DEFAULT_GROUP_BY);
    expect(groupOf(ref('files', ['/srv/app'], { job: 'job_2' }), DEFAULT_GROUP_BY)).toBe(a);
    expect(groupOf(ref('files', ['/srv/other'], { job: 'job_1' }), DEFAULT_GROUP_BY)).not.toBe(a);
    expect(groupOf(ref('scenarios', ['blog'], { scenario: 'blog', job: 'x' }), DEFAULT_GROUP_BY)).not.toBe(groupOf(ref('scenarios', ['shop'], { scenario: 'shop', job: 'x' }), DEFAULT_GROUP_BY));
    expect(groupOf(ref('postgres-cluster', ['base.tar'], { cluster: 'main' }), ['target', 'tags'])).not.toBe(groupOf(ref('postgres-cluster', ['base.tar'], { cluster: 'db2' }), ['target', 'tags']));
  });

  it('keeps only the newest of a source whose snapshots each came from their own job', () => {
    const items = ['job_1', 'job_2', 'job_3'].map((job, i) => ({ id: job, time: `2026-01-0${i + 1}T00:00:00Z`, group: groupOf(ref('files', ['/srv/app'], { job }), DEFAULT_GROUP_BY) }));
    expect(applyPolicy(items, { last: 1 }).filter((d) => d.keep).map((d) => d.item.id)).toEqual(['job_3']);
  });
});
