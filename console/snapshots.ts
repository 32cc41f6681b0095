import { api, ApiFailure, query, session } from './api.js';
import { go, type Page } from './app.js';
import { bytes, h, show, table, toast, when } from './dom.js';
import { timeline, type PitrWindow } from './overview.js';

interface Snapshot {
  id: string;
  target: string;
  type: string;
  kind: string;
  time: string;
  paths: string[];
  job_id: string | null;
  databases?: string[];
  cluster?: string;
  stats: { files: number; total_size: number; bytes_read: number; bytes_added: number; bytes_stored: number };
}
interface Entry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  size?: number;
  mtime: string;
  target?: string;
}

/** Snapshots by target, newest first, with what each read, added and stored. */
export async function snapshotsPage(main: HTMLElement, params: URLSearchParams): Promise<Page> {
  const target = params.get('target') ?? '';
  const all = await api.get<{ snapshots: Snapshot[] }>('/api/v1/snapshots?limit=1000');
  const targets = [...new Set(all.snapshots.map((s) => s.target))].sort();
  const shown = all.snapshots.filter((s) => !target || s.target === target);
  const picker = h(
    'select',
    { id: 'target-filter', onchange: ((e: Event) => go(`#/snapshots${query({ target: (e.target as HTMLSelectElement).value })}`)) as EventListener },
    h('option', { value: '' }, 'all targets'),
    targets.map((t) => h('option', { value: t, selected: t === target }, t)),
  );
  show(
    main,
    h('h1', {}, 'Snapshots'),
    h('div', { class: 'filters' }, h('label', { for: 'target-filter' }, 'Target', picker)),
    table(
      `${shown.length} snapshot(s)${target ? ` of ${target}` : ''}, newest first`,
      ['Time', 'Target', 'Type', 'Size', 'Read', 'New', 'Stored', 'Snapshot'],
      shown.map((s) => [when(s.time), s.target, s.type, bytes(s.stats.total_size), bytes(s.stats.bytes_read), bytes(s.stats.bytes_added), bytes(s.stats.bytes_stored), h('a', { href: `#/snapshots/${s.id}`, 'aria-label': `browse ${s.id.slice(0, 8)} of ${s.target}` }, `browse ${s.id.slice(0, 8)}`)]),
      [3, 4, 5, 6],
    ),
  );
  return { title: 'Snapshots' };
}

const join = (dir: string, name: string): string => [...dir.split('/').filter(Boolean), name].join('/');

/** One directory of a snapshot: its entries, a download per file, and the restore form. */
export async function browsePage(main: HTMLElement, id: string, dir: string): Promise<Page> {
  const tree = await api.get<{ snapshot: Snapshot; entries: Entry[] }>(`/api/v1/snapshots/${encodeURIComponent(id)}/tree${query({ path: dir })}`);
  const snap = tree.snapshot;
  const parts = dir.split('/').filter(Boolean);
  const link = (path: string): string => `#/snapshots/${snap.id}${query({ path: path ? `/${path}` : '' })}`;
  const crumbs = h(
    'ol',
    { class: 'crumbs' },
    h('li', {}, parts.length ? h('a', { href: link('') }, 'root') : 'root'),
    parts.map((p, i) => h('li', {}, i === parts.length - 1 ? h('span', { 'aria-current': 'location' }, p) : h('a', { href: link(parts.slice(0, i + 1).join('/')) }, p))),
  );
  const form = restoreForm(snap);
  const rows = tree.entries.map((e) => {
    const path = join(dir, e.name);
    const actions: HTMLElement[] = [];
    if (e.type === 'file' && session.can('operator')) {
      actions.push(h('a', { href: `/api/v1/snapshots/${snap.id}/file${query({ path })}`, download: e.name, 'aria-label': `Download ${e.name}` }, 'Download'));
    }
    if (form.pick && e.type !== 'symlink') {
      actions.push(h('button', { type: 'button', class: 'secondary', 'aria-label': `Restore ${e.name}`, onclick: (() => form.pick!(path)) as EventListener }, 'Restore'));
    }
    return [
      e.type === 'dir' ? h('a', { href: link(path) }, `${e.name}/`) : e.type === 'symlink' ? `${e.name} → ${e.target ?? ''}` : e.name,
      e.type,
      e.type === 'file' ? bytes(e.size) : '',
      when(e.mtime),
      h('span', { class: 'actions' }, actions),
    ];
  });
  show(
    main,
    h('p', {}, h('a', { href: `#/snapshots${query({ target: snap.target })}` }, `← Snapshots of ${snap.target}`)),
    h('h1', {}, `Snapshot ${snap.id.slice(0, 8)} of ${snap.target}`),
    h('p', { class: 'muted' }, `${when(snap.time)}${snap.job_id ? ` · job ${snap.job_id}` : ''}${snap.paths.length ? ` · ${snap.paths.join(', ')}` : ''}`),
    h('nav', { 'aria-label': 'Path in the snapshot' }, crumbs),
    table(`${tree.entries.length} entr${tree.entries.length === 1 ? 'y' : 'ies'} in /${parts.join('/')}`, ['Name', 'Type', 'Size', 'Modified', 'Actions'], rows, [2]),
    form.element,
  );
  if (snap.target === 'postgres-cluster' && snap.cluster) {
    const windows = await api.get<{ clusters: PitrWindow[] }>('/api/v1/pitr').catch(() => ({ clusters: [] as PitrWindow[] }));
    const w = windows.clusters.find((c) => c.cluster === snap.cluster);
    if (w) form.element.before(timeline(w));
    if (w && form.window) form.window(w);
  }
  return { title: `Snapshot ${snap.id.slice(0, 8)}` };
}

interface RestoreForm {
  element: HTMLElement;
  /** files: restore this path (fills the form) */
  pick?: (path: string) => void;
  /** cluster: the moments to pick from */
  window?: (w: PitrWindow) => void;
}

/** The restore form for a snapshot's kind of target: the same request the CLI's `restore` makes. */
function restoreForm(snap: Snapshot): RestoreForm {
  if (!session.can('operator')) return { element: h('p', { class: 'muted' }, 'Restoring needs the operator role.') };
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = async (body: Record<string, unknown>): Promise<void> => {
    error.hidden = true;
    try {
      const answer = await api.post<{ job_id: string }>('/api/v1/restore/create', body);
      toast(`Restore started: job ${answer.job_id}`);
      go(`#/jobs/${encodeURIComponent(answer.job_id)}`);
    } catch (err) {
      show(error, err instanceof ApiFailure ? err.message : String(err));
      error.hidden = false;
    }
  };
  const section = (...children: (HTMLElement | null)[]): HTMLElement => h('section', { 'aria-labelledby': 'restore-h' }, h('h2', { id: 'restore-h' }, 'Restore'), ...children, error);
  const onsubmit = (build: () => Record<string, unknown>): EventListener =>
    ((e: Event) => {
      e.preventDefault();
      void submit(build());
    }) as EventListener;

  if (snap.target === 'postgres-cluster') {
    const at = h('input', { id: 'restore-time', name: 'time', type: 'datetime-local', step: 1 });
    const slider = h('input', { id: 'restore-slider', type: 'range', min: 0, max: 1000, value: 1000, 'aria-label': 'moment in the window' });
    const dirInput = h('input', { id: 'restore-datadir', name: 'data_directory', size: 40, placeholder: 'default: under the restore directory' });
    let win: PitrWindow | null = null;
    const local = (t: number): string => {
      const d = new Date(t);
      return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    };
    slider.addEventListener('input', () => {
      if (!win?.earliest || !win.latest) return;
      const from = Date.parse(win.earliest);
      const to = Date.parse(win.latest);
      at.value = local(from + ((to - from) * Number(slider.value)) / 1000);
    });
    const form = h(
      'form',
      { class: 'inline', onsubmit: onsubmit(() => ({ cluster: snap.cluster, ...(at.value ? { target_time: new Date(at.value).toISOString() } : {}), ...(dirInput.value ? { data_directory: dirInput.value } : {}) })) },
      h('label', { for: 'restore-slider' }, 'Pick on the window', slider),
      h('label', { for: 'restore-time' }, 'Moment (empty: the latest)', at),
      h('label', { for: 'restore-datadir' }, 'New data directory', dirInput),
      h('button', { type: 'submit' }, 'Restore cluster to this moment'),
    );
    return {
      element: section(h('p', {}, `Cluster ${snap.cluster ?? ''}: base backup and archived WAL, replayed to the moment chosen, into a new data directory.`), form),
      window: (w) => {
        win = w;
        if (w.latest) at.value = local(Date.parse(w.latest));
      },
    };
  }
  if (snap.databases) {
    const db = h('select', { id: 'restore-db', name: 'database' }, snap.databases.map((d) => h('option', { value: d }, d)));
    const as = h('input', { id: 'restore-as', name: 'as', required: true, size: 24, maxlength: 63, placeholder: 'a new database name' });
    const form = h(
      'form',
      { class: 'inline', onsubmit: onsubmit(() => ({ snapshot: snap.id, targets: [snap.target], destination: { database: db.value, as: as.value.trim() } })) },
      h('label', { for: 'restore-db' }, 'Database', db),
      h('label', { for: 'restore-as' }, 'Restore as', as),
      h('button', { type: 'submit' }, 'Restore database'),
    );
    return { element: section(h('p', {}, 'A database of this dump, under a new name (the original is not touched).'), form) };
  }
  if (snap.target === 'minio') {
    const bucket = h('input', { id: 'restore-bucket', name: 'bucket', required: true, minlength: 3, maxlength: 63 });
    const prefix = h('input', { id: 'restore-prefix', name: 'prefix', placeholder: 'optional' });
    const form = h(
      'form',
      { class: 'inline', onsubmit: onsubmit(() => ({ snapshot: snap.id, targets: [snap.target], destination: { bucket: bucket.value.trim(), ...(prefix.value ? { prefix: prefix.value } : {}) } })) },
      h('label', { for: 'restore-bucket' }, 'Into bucket', bucket),
      h('label', { for: 'restore-prefix' }, 'Under prefix', prefix),
      h('button', { type: 'submit' }, 'Restore objects'),
    );
    return { element: section(form) };
  }
  const path = h('input', { id: 'restore-path', name: 'path', size: 40, placeholder: 'empty: the whole snapshot' });
  const dir = h('input', { id: 'restore-dir', name: 'directory', size: 40, placeholder: 'default: the restore directory' });
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: onsubmit(() => ({
        snapshot: snap.id,
        targets: [snap.target],
        destination: { ...(dir.value.trim() ? { directory: dir.value.trim() } : {}), ...(path.value.trim() ? { include: [path.value.trim().replace(/^\/+/, '')] } : {}) },
      })),
    },
    h('label', { for: 'restore-path' }, 'Path in the snapshot', path),
    h('label', { for: 'restore-dir' }, 'Into directory', dir),
    h('button', { type: 'submit' }, 'Restore'),
  );
  return {
    element: section(h('p', {}, 'Files go into a directory the server allows (its path policy), never over the originals from here.'), form),
    pick: (p) => {
      path.value = p;
      path.focus();
    },
  };
}
