import { api } from './api.js';
import type { Page } from './app.js';
import { age, badge, bytes, duration, h, show, svg, when } from './dom.js';

interface Status {
  jobs: Record<string, number>;
  running: { id: string; kind: string; targets: string[]; progress: number }[];
  last_success: { target: string; job_id: string; at: string; bytes_added: number }[];
  failed_24h: number;
}
interface JobBrief {
  id: string;
  kind: string;
  targets: string[];
  status: string;
  created_at: string;
  finished_at: string | null;
}
interface Schedules {
  schedules: { name: string; targets: string[]; enabled: boolean; next_run: string | null }[];
}
interface Storage {
  repository: { bytes: number; snapshots: number } | null;
  totals: { dedup_ratio: number | null; compression_ratio: number | null };
  growth: { last_30d: number; daily: { day: string; bytes_stored: number }[] };
  warnings: string[];
}
export interface PitrWindow {
  cluster: string;
  baseBackups: { id: string; stoppedAt: string }[];
  earliest: string | null;
  latest: string | null;
  latestKind: string;
  gaps: { first: string; last: string; count: number; restorableUntil: string | null }[];
}
interface Alerts {
  latest: { checked_at: string; ok: boolean; problems: { kind: string; message: string }[] } | null;
}

const HOUR = 3_600_000;
/** RPO colours: a day and a bit is a daily schedule on time; three days is a missed weekend. */
function freshness(at: string | undefined): 'ok' | 'warn' | 'bad' {
  if (!at) return 'bad';
  const ms = Date.now() - Date.parse(at);
  return ms < 26 * HOUR ? 'ok' : ms < 72 * HOUR ? 'warn' : 'bad';
}

export async function overviewPage(main: HTMLElement): Promise<Page> {
  const [status, jobs, schedules, storage, pitr, alerts] = await Promise.all([
    api.get<Status>('/api/v1/backup/status'),
    api.get<{ jobs: JobBrief[] }>('/api/v1/backup/list?kind=all&limit=200'),
    api.get<Schedules>('/api/v1/schedules').catch(() => ({ schedules: [] }) as Schedules),
    api.get<Storage>('/api/v1/storage/status'),
    api.get<{ clusters: PitrWindow[] }>('/api/v1/pitr').catch(() => ({ clusters: [] })),
    api.get<Alerts>('/api/v1/alerts'),
  ]);
  const targets = [...new Set([...status.last_success.map((s) => s.target), ...schedules.schedules.flatMap((s) => s.targets)])].sort();
  const cards = targets.map((target) => {
    const last = status.last_success.find((s) => s.target === target);
    const tested = jobs.jobs.find((j) => (j.kind === 'restore' || j.kind === 'verify') && j.status === 'completed' && j.targets.includes(target));
    const next = schedules.schedules.filter((s) => s.enabled && s.next_run && s.targets.includes(target)).map((s) => s.next_run!).sort()[0];
    const tone = freshness(last?.at);
    return h(
      'article',
      { class: 'card', 'aria-labelledby': `t-${target}` },
      h('h3', { id: `t-${target}` }, target),
      h('p', {}, 'Last success: ', h('span', { class: `badge ${tone}` }, last ? age(last.at) : 'never'), last ? h('span', { class: 'muted' }, ` (${when(last.at)})`) : null),
      h('p', {}, 'Last restore or verification: ', tested ? `${age(tested.finished_at)}, took ${duration(Date.parse(tested.finished_at ?? '') - Date.parse(tested.created_at))} (${tested.kind})` : 'none yet'),
      h('p', {}, 'Next scheduled run: ', next ? when(next) : 'not scheduled'),
    );
  });

  const alertList = alerts.latest
    ? alerts.latest.ok
      ? h('p', {}, badge('ok'), ` nothing wrong when the monitor last looked (${when(alerts.latest.checked_at)})`)
      : h('div', {}, h('p', {}, `The monitor found ${alerts.latest.problems.length} problem(s) at ${when(alerts.latest.checked_at)}:`), h('ul', {}, alerts.latest.problems.map((p) => h('li', {}, h('span', { class: 'badge bad' }, p.kind.replace(/_/g, ' ')), ' ', p.message))))
    : h('p', { class: 'muted' }, 'The monitor has not run yet.');

  show(
    main,
    h('h1', {}, 'Overview'),
    h('section', { 'aria-labelledby': 'alerts-h' }, h('h2', { id: 'alerts-h' }, 'Alerts'), alertList, storage.warnings.map((w) => h('p', { class: 'warn badge' }, w))),
    h('section', { 'aria-labelledby': 'targets-h' }, h('h2', { id: 'targets-h' }, 'Targets'), targets.length ? h('div', { class: 'cards' }, cards) : h('p', { class: 'muted' }, 'No backups yet.')),
    h(
      'section',
      { 'aria-labelledby': 'jobs-h' },
      h('h2', { id: 'jobs-h' }, 'Jobs'),
      h('p', {}, `${status.jobs.running ?? 0} running, ${status.jobs.queued ?? 0} queued, ${status.failed_24h} failed in the last 24 h. `, h('a', { href: '#/jobs' }, 'All jobs')),
    ),
    h('section', { 'aria-labelledby': 'repo-h' }, h('h2', { id: 'repo-h' }, 'Repository'), repository(storage)),
    h('section', { 'aria-labelledby': 'pitr-h' }, h('h2', { id: 'pitr-h' }, 'Point-in-time recovery'), pitr.clusters.length ? pitr.clusters.map(timeline) : h('p', { class: 'muted' }, 'No cluster archives its WAL here.')),
  );
  return { title: 'Overview' };
}

function repository(s: Storage): HTMLElement {
  const days = s.growth.daily;
  const max = Math.max(1, ...days.map((d) => d.bytes_stored));
  const w = 600;
  const bar = w / Math.max(1, days.length);
  const chart = svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${w} 120`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Bytes stored per day over the last 30 days: ${bytes(s.growth.last_30d)} in all` },
    ...days.map((d, i) => {
      const height = (d.bytes_stored / max) * 110;
      return svg('rect', { x: i * bar + 1, y: 120 - height, width: Math.max(1, bar - 2), height }, svg('title', {}, `${d.day}: ${bytes(d.bytes_stored)}`));
    }),
  );
  chart.appendChild(svg('line', { x1: 0, y1: 119.5, x2: w, y2: 119.5, stroke: '#4f5965', 'stroke-width': 1 }));
  const busiest = days.reduce((a, d) => (d.bytes_stored > a.bytes_stored ? d : a), days[0] ?? { day: '', bytes_stored: 0 });
  return h(
    'div',
    {},
    h('p', {}, s.repository ? `${bytes(s.repository.bytes)} in ${s.repository.snapshots} snapshots` : 'The repository cannot be read.', s.totals.dedup_ratio ? ` · dedup ${s.totals.dedup_ratio}×` : '', s.totals.compression_ratio ? ` · compression ${s.totals.compression_ratio}×` : ''),
    h('p', { class: 'muted' }, `Growth over the last 30 days: ${bytes(s.growth.last_30d)} stored`),
    chart,
    days.length ? h('p', { class: 'muted axis' }, h('span', {}, days[0].day), h('span', {}, busiest.bytes_stored ? `busiest day: ${busiest.day}, ${bytes(busiest.bytes_stored)}` : 'nothing stored'), h('span', {}, days[days.length - 1].day)) : null,
  );
}

/** A cluster's window as a bar from its earliest to its latest moment, base backups as ticks, gaps in red. */
export function timeline(w: PitrWindow): HTMLElement {
  const from = Date.parse(w.earliest ?? '');
  const to = Date.parse(w.latest ?? '');
  const bar = h('div', { class: 'timeline', role: 'img', 'aria-label': `cluster ${w.cluster}: restorable from ${when(w.earliest)} to ${when(w.latest)}, ${w.gaps.length} gap(s)` });
  if (Number.isFinite(from) && Number.isFinite(to) && to >= from) {
    const pct = (t: number): string => `${to === from ? 0 : ((t - from) / (to - from)) * 100}%`;
    bar.appendChild(h('div', { class: 'span' }));
    (bar.lastChild as HTMLElement).style.inset = '0';
    for (const b of w.baseBackups) {
      const t = Date.parse(b.stoppedAt);
      if (t >= from && t <= to) {
        const tick = h('div', { class: 'base', title: `base backup ${b.id.slice(0, 8)} at ${when(b.stoppedAt)}` });
        tick.style.left = pct(t);
        bar.appendChild(tick);
      }
    }
    for (const g of w.gaps) {
      const t = Date.parse(g.restorableUntil ?? '');
      const mark = h('div', { class: 'gap', title: `gap: ${g.count} WAL segment(s) missing from ${g.first}` });
      mark.style.left = Number.isFinite(t) ? pct(t) : '0';
      bar.appendChild(mark);
    }
  }
  return h(
    'div',
    { class: 'card' },
    h('h3', {}, `Cluster ${w.cluster}`),
    h('p', {}, `Restorable from ${when(w.earliest)} to ${when(w.latest)} (${w.latestKind}); ${w.baseBackups.length} base backup(s).`),
    bar,
    w.gaps.length ? h('ul', {}, w.gaps.map((g) => h('li', { class: 'bad' }, `Gap: ${g.count} WAL segment(s) missing (${g.first} … ${g.last}); nothing after ${when(g.restorableUntil)} is restorable until the next base backup.`))) : h('p', {}, badge('ok'), ' no gaps'),
  );
}
