import { api, ApiFailure, query, session } from './api.js';
import { go, type Page } from './app.js';
import { age, badge, bytes, h, show, table, toast, when } from './dom.js';

interface JobBrief {
  id: string;
  kind: string;
  type: string | null;
  targets: string[];
  status: string;
  description: string | null;
  progress: number;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}
interface Job extends JobBrief {
  started_at: string | null;
  heartbeat_at: string | null;
  runner: string | null;
  live: Record<string, { bytes_read: number; files?: number }>;
  steps: { target: string; status: string; snapshot_id?: string | null; bytes_read?: number | null; bytes_added?: number | null; bytes_stored?: number | null; duration_ms?: number | null; error?: string | null }[];
  log: { at: string; level: string; message: string }[];
}

const POLL_MS = 2000;
const running = (status: string): boolean => status === 'queued' || status === 'running';

function progressOf(j: { status: string; progress: number }): HTMLElement {
  if (!running(j.status)) return badge(j.status);
  const pct = Math.round(j.progress * 100);
  return h('span', {}, badge(j.status), ' ', h('progress', { max: 100, value: pct, 'aria-label': `progress ${pct} %` }), ` ${pct} %`);
}

/** Jobs, filtered as the API filters them, refreshed while any of them runs. */
export async function jobsPage(main: HTMLElement, params: URLSearchParams): Promise<Page> {
  const filters = { kind: params.get('kind') ?? 'all', status: params.get('status') ?? '', target: params.get('target') ?? '', since: params.get('since') ?? '' };
  const select = (name: string, label: string, options: string[]): HTMLElement =>
    h('label', {}, label, h('select', { name }, options.map((o) => h('option', { value: o, selected: (filters as Record<string, string>)[name] === o }, o || 'any'))));
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Filter jobs',
      onsubmit: ((e: Event) => {
        e.preventDefault();
        const data = new FormData(e.target as HTMLFormElement);
        go(`#/jobs${query(Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v)])))}`);
      }) as EventListener,
    },
    select('kind', 'Kind', ['all', 'backup', 'restore', 'verify', 'cleanup']),
    select('status', 'Status', ['', 'queued', 'running', 'completed', 'failed', 'cancelled']),
    h('label', {}, 'Target', h('input', { name: 'target', value: filters.target, size: 12, placeholder: 'any' })),
    h('label', {}, 'Since', h('input', { name: 'since', value: filters.since, size: 10, placeholder: '7d or 2026-11-01' })),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const list = h('div', { 'aria-live': 'polite' });
  show(main, h('h1', {}, 'Jobs'), form, list);
  let timer: number | undefined;
  let stopped = false;
  const refresh = async (): Promise<void> => {
    let answer: { total: number; jobs: JobBrief[] };
    try {
      answer = await api.get<{ total: number; jobs: JobBrief[] }>(`/api/v1/backup/list${query({ ...filters, limit: 100 })}`);
    } catch (err) {
      show(list, h('p', { class: 'error', role: 'alert' }, err instanceof ApiFailure ? err.message : String(err)));
      return;
    }
    show(
      list,
      table(
        `${answer.total} job(s), newest first`,
        ['Job', 'Kind', 'Targets', 'Status', 'Created', 'Error'],
        answer.jobs.map((j) => [h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id), j.kind, j.targets.join(', '), progressOf(j), h('span', { title: when(j.created_at) }, age(j.created_at)), j.error ?? '']),
      ),
    );
    if (!stopped && answer.jobs.some((j) => running(j.status))) timer = window.setTimeout(() => void refresh(), POLL_MS);
  };
  await refresh();
  return {
    title: 'Jobs',
    stop: () => {
      stopped = true; // a refresh under way when the page is left schedules no other
      window.clearTimeout(timer);
    },
  };
}

/** One job: its progress while it runs, its steps and log; cancel and restart for operators. */
export async function jobPage(main: HTMLElement, id: string): Promise<Page> {
  let timer: number | undefined;
  let stopped = false;
  const render = async (): Promise<void> => {
    const job = await api.get<Job>(`/api/v1/jobs/${encodeURIComponent(id)}`);
    const actions = h('div', { class: 'actions' });
    if (session.can('operator') && running(job.status)) {
      actions.appendChild(h('button', { type: 'button', class: 'danger', onclick: (() => void act('cancel')) as EventListener }, 'Cancel job'));
    }
    if (session.can('operator') && (job.status === 'failed' || job.status === 'cancelled')) {
      actions.appendChild(h('button', { type: 'button', onclick: (() => void act('restart')) as EventListener }, 'Restart job'));
    }
    const live = Object.entries(job.live ?? {});
    show(
      main,
      h('p', {}, h('a', { href: '#/jobs' }, '← All jobs')),
      h('h1', {}, `Job ${job.id}`),
      h(
        'dl',
        {},
        h('dt', {}, 'Kind'),
        h('dd', {}, `${job.kind}${job.type ? ` (${job.type})` : ''}: ${job.targets.join(', ')}`),
        h('dt', {}, 'Status'),
        h('dd', { 'aria-live': 'polite' }, progressOf(job), job.error ? h('span', { class: 'error' }, ` ${job.error}`) : null),
        h('dt', {}, 'Created / started / finished'),
        h('dd', {}, `${when(job.created_at)} / ${when(job.started_at)} / ${when(job.finished_at)}`),
        job.runner ? [h('dt', {}, 'Ran on'), h('dd', {}, job.runner)] : null,
        job.description ? [h('dt', {}, 'Description'), h('dd', {}, job.description)] : null,
      ),
      actions,
      live.length ? h('p', { 'aria-live': 'polite' }, `Read so far: ${live.map(([t, p]) => `${t} ${bytes(p.bytes_read)}${p.files !== undefined ? ` in ${p.files} files` : ''}`).join(', ')}`) : null,
      h('h2', {}, 'Steps'),
      table(
        'one row per target',
        ['Target', 'Status', 'Snapshot', 'Read', 'New', 'Stored', 'Error'],
        job.steps.map((s) => [
          s.target,
          badge(s.status),
          s.snapshot_id ? h('a', { href: `#/snapshots/${s.snapshot_id}` }, s.snapshot_id.slice(0, 12)) : '',
          bytes(s.bytes_read),
          bytes(s.bytes_added),
          bytes(s.bytes_stored),
          s.error ?? '',
        ]),
        [3, 4, 5],
      ),
      h('h2', {}, 'Log'),
      h('pre', { class: 'log', tabindex: 0, 'aria-label': 'job log' }, job.log.map((l) => `${new Date(l.at).toLocaleTimeString()} ${l.level.padEnd(5)} ${l.message}`).join('\n') || '(empty)'),
    );
    if (!stopped && running(job.status)) timer = window.setTimeout(tick, POLL_MS);
  };
  // a poll that fails (the API restarting, say) is tried again a little later rather than given up
  const tick = (): void => {
    render().catch(() => {
      if (!stopped) timer = window.setTimeout(tick, POLL_MS * 2);
    });
  };
  const act = async (what: 'cancel' | 'restart'): Promise<void> => {
    if (what === 'cancel' && !window.confirm(`Cancel job ${id}?`)) return;
    try {
      const answer = await api.post<{ job_id?: string }>(`/api/v1/jobs/${encodeURIComponent(id)}/${what}`);
      toast(what === 'cancel' ? `Job ${id} cancelled` : `Restarted as job ${answer.job_id}`);
      go(what === 'restart' && answer.job_id ? `#/jobs/${encodeURIComponent(answer.job_id)}` : location.hash);
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err));
    }
  };
  await render();
  return {
    title: `Job ${id}`,
    stop: () => {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}
