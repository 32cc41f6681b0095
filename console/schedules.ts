import { api, ApiFailure, query, session } from './api.js';
import { go, type Page } from './app.js';
import { badge, h, show, table, toast, when } from './dom.js';

interface Schedule {
  name: string;
  cron: string;
  type: string;
  targets: string[];
  enabled: boolean;
  next_run: string | null;
  editor_url: string;
  last_run: { job_id: string; at: string; status: string; error: string | null } | null;
}

/** The targets a schedule may name, as the API's own document lists them. */
async function targetNames(): Promise<string[]> {
  const doc = await api.get<{ paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: { properties: { targets?: { items?: { enum?: string[] } } } } }> } } }> }>('/api/v1/openapi.json');
  return doc.paths['/api/v1/schedules']?.post?.requestBody?.content['application/json'].schema.properties.targets?.items?.enum ?? [];
}

/** Schedules with their next and last runs; admins enable, disable and create them. */
export async function schedulesPage(main: HTMLElement): Promise<Page> {
  const { timezone, schedules } = await api.get<{ timezone: string; schedules: Schedule[] }>('/api/v1/schedules');
  const admin = session.can('admin');
  const toggle = async (s: Schedule): Promise<void> => {
    try {
      await api.post(`/api/v1/schedules/${encodeURIComponent(s.name)}/${s.enabled ? 'disable' : 'enable'}`);
      toast(`Schedule ${s.name} ${s.enabled ? 'disabled' : 'enabled'}`);
      go('#/schedules');
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err));
    }
  };
  show(
    main,
    h('h1', {}, 'Schedules'),
    table(
      `${schedules.length} schedule(s); times in ${timezone}`,
      ['Name', 'When', 'Targets', 'State', 'Next run', 'Last run', 'Workflow', ...(admin ? ['Actions'] : [])],
      schedules.map((s) => [
        s.name,
        h('code', {}, s.cron),
        `${s.targets.join(', ')} (${s.type})`,
        badge(s.enabled ? 'enabled' : 'disabled'),
        when(s.next_run),
        s.last_run ? h('span', {}, badge(s.last_run.status), ' ', h('a', { href: `#/jobs/${encodeURIComponent(s.last_run.job_id)}` }, when(s.last_run.at))) : 'never',
        h('a', { href: s.editor_url, target: '_blank', rel: 'noopener noreferrer' }, 'open in n8n'),
        ...(admin ? [h('button', { type: 'button', class: 'secondary', onclick: (() => void toggle(s)) as EventListener }, s.enabled ? `Disable ${s.name}` : `Enable ${s.name}`)] : []),
      ]),
    ),
    admin ? await createForm() : h('p', { class: 'muted' }, 'Creating and changing schedules needs the admin role.'),
  );
  return { title: 'Schedules' };
}

async function createForm(): Promise<HTMLElement> {
  const targets = await targetNames();
  const name = h('input', { id: 'sched-name', name: 'name', required: true, pattern: '[a-z0-9][a-z0-9_-]{0,62}', size: 20, 'aria-describedby': 'sched-name-help' });
  const cron = h('input', { id: 'sched-cron', name: 'cron', required: true, value: '0 2 * * *', size: 20, 'aria-describedby': 'sched-next' });
  const type = h('select', { id: 'sched-type', name: 'type' }, ['incremental', 'full', 'differential'].map((t) => h('option', { value: t }, t)));
  const next = h('div', { id: 'sched-next', 'aria-live': 'polite', class: 'muted' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const preview = async (): Promise<void> => {
    try {
      const answer = await api.get<{ next_runs: string[]; timezone: string }>(`/api/v1/schedules/next-runs${query({ cron: cron.value.trim(), count: 5 })}`);
      show(next, `Next runs (${answer.timezone}): `, answer.next_runs.map(when).join(' · '));
    } catch (err) {
      show(next, err instanceof ApiFailure ? err.message : String(err));
    }
  };
  let debounce: number | undefined;
  cron.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(() => void preview(), 300);
  });
  void preview();
  const boxes = targets.map((t) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'targets', value: t, checked: t === 'postgres' || t === 'files' }), t));
  return h(
    'section',
    { 'aria-labelledby': 'new-sched-h' },
    h('h2', { id: 'new-sched-h' }, 'New schedule'),
    h(
      'form',
      {
        onsubmit: (async (e: Event) => {
          e.preventDefault();
          error.hidden = true;
          const chosen = boxes.map((b) => b.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
          try {
            await api.post('/api/v1/schedules', { name: name.value.trim(), cron: cron.value.trim(), type: type.value, targets: chosen });
            toast(`Schedule ${name.value.trim()} created`);
            go('#/schedules');
          } catch (err) {
            show(error, err instanceof ApiFailure ? err.message : String(err));
            error.hidden = false;
          }
        }) as EventListener,
      },
      h('div', { class: 'filters' }, h('label', { for: 'sched-name' }, 'Name', name), h('label', { for: 'sched-cron' }, 'Cron (minute hour day month weekday)', cron), h('label', { for: 'sched-type' }, 'Type', type)),
      h('p', { id: 'sched-name-help', class: 'muted' }, 'Lowercase letters, digits, - and _.'),
      next,
      h('fieldset', {}, h('legend', {}, 'Targets'), boxes),
      error,
      h('button', { type: 'submit' }, 'Create schedule'),
    ),
  );
}
