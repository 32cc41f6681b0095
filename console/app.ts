/**
 * The web console: log in with an API token, then four pages over /api/v1
 * (overview, jobs, snapshots, schedules), routed by the URL's hash so every
 * view has a link. What a role may not do is not offered (the API refuses
 * it anyway).
 */
import { api, ApiFailure, session } from './api.js';
import { h, show } from './dom.js';
import { jobPage, jobsPage } from './jobs.js';
import { overviewPage } from './overview.js';
import { schedulesPage } from './schedules.js';
import { browsePage, snapshotsPage } from './snapshots.js';

export interface Page {
  title: string;
  /** stops the page's polling when another page takes its place */
  stop?: () => void;
}

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;
let current: Page | null = null;

function loginPage(problem?: string): void {
  nav.hidden = true;
  show(who);
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help' });
  const error = h('p', { class: 'error', role: 'alert', hidden: !problem }, problem ?? '');
  const form = h(
    'form',
    {
      onsubmit: (async (e: Event) => {
        e.preventDefault();
        try {
          await api.login(input.value.trim());
          input.value = '';
          await route();
        } catch (err) {
          show(error, err instanceof ApiFailure ? err.message : String(err));
          error.hidden = false;
          input.focus();
        }
      }) as EventListener,
    },
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'muted' }, 'A token from `data-backup-manager token create` (the stack prints an admin token when it first starts). It stays on the server; this browser keeps only a session cookie.'),
    error,
    h('button', { type: 'submit' }, 'Log in'),
  );
  show(main, h('section', { class: 'login', 'aria-labelledby': 'login-title' }, h('h1', { id: 'login-title' }, 'Log in'), form));
  document.title = 'Log in · data-backup-manager';
  input.focus();
}

function header(): void {
  nav.hidden = false;
  const me = session.me!;
  show(
    who,
    h('span', {}, `${me.name} (${me.role})`),
    h('button', {
      type: 'button',
      onclick: (async () => {
        await api.logout();
        loginPage();
      }) as EventListener,
    }, 'Log out'),
  );
  const section = (location.hash.split('?')[0].split('/')[1] || 'overview');
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${section}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

let generation = 0;

async function route(): Promise<void> {
  const mine = ++generation;
  current?.stop?.();
  current = null;
  if (!session.me && !(await api.resume())) return loginPage();
  header();
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(search);
  // the page is built apart and shown once ready, and only if no later navigation came meanwhile
  const view = h('div');
  let page: Page;
  try {
    if (parts[0] === 'jobs' && parts[1]) page = await jobPage(view, decodeURIComponent(parts[1]));
    else if (parts[0] === 'jobs') page = await jobsPage(view, params);
    else if (parts[0] === 'snapshots' && parts[1]) page = await browsePage(view, decodeURIComponent(parts[1]), params.get('path') ?? '/');
    else if (parts[0] === 'snapshots') page = await snapshotsPage(view, params);
    else if (parts[0] === 'schedules') page = await schedulesPage(view);
    else page = await overviewPage(view);
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof ApiFailure && err.status === 401) return loginPage('Your session ended: log in again.');
    page = { title: 'Error' };
    show(view, h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err)));
  }
  if (mine !== generation) {
    page.stop?.();
    return;
  }
  current = page;
  show(main, view);
  document.title = `${page.title} · data-backup-manager`;
  // a new view: focus its heading, so keyboard and screen reader users start there
  const heading = main.querySelector('h1') as HTMLElement | null;
  heading?.setAttribute('tabindex', '-1');
  heading?.focus();
}

/** Navigates to a view (a hash), re-rendering even when it is the current one. */
export function go(hash: string): void {
  if (location.hash === hash) void route();
  else location.hash = hash;
}

window.addEventListener('hashchange', () => void route());
window.addEventListener('dbm:logged-out', () => loginPage('Your session ended: log in again.'));
void route();
