// The page's entry: sign-in, and a router over the address's hash (#/, #/s/<id>?dir=…,
// #/search?q=…) so the back button and reloads keep the reader where they were.
import { api, token, whenUnauthorized } from './api.js';
import { fill, h, link } from './dom.js';
import { searchView } from './search.js';
import { storageView } from './storage.js';
import { storagesView } from './storages.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const signOutButton = document.getElementById('signout');
const searchForm = document.getElementById('search');

/** Aborted when the reader leaves a view: its event streams close, its late answers drop. */
let leaving = new AbortController();

function signedIn(tenant) {
  who.textContent = tenant ? tenant.name : '';
  signOutButton.hidden = !tenant;
  searchForm.hidden = !tenant;
  if (!tenant) searchForm.reset();
}

function signInView(message) {
  leaving.abort();
  signedIn(null);
  const input = h('input', {
    name: 'token',
    type: 'password',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-label': 'API token',
  });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message ?? '');
  const form = h(
    'form',
    { class: 'card signin', id: 'signin', onsubmit: submit },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste a tenant API token. It is kept in this tab only.'),
    h('label', {}, h('span', {}, 'Token'), input),
    error,
    h('button', {}, 'Sign in'),
  );
  async function submit(event) {
    event.preventDefault();
    const tok = input.value.trim();
    try {
      const me = await api('GET', '/v1/me', undefined, tok);
      if (!me?.tenant) throw new Error('This token is not a tenant token.');
      token.set(tok);
      signedIn(me.tenant);
      route();
    } catch (e) {
      fill(error, e.status === 401 ? 'That token was not accepted.' : e.message);
      error.hidden = false;
    }
  }
  fill(main, form);
  input.focus();
}

function route() {
  leaving.abort();
  leaving = new AbortController();
  const { signal } = leaving;
  if (!token.get()) return signInView();

  const hash = location.hash.slice(1) || '/';
  const at = hash.indexOf('?');
  const path = at < 0 ? hash : hash.slice(0, at);
  const params = Object.fromEntries(new URLSearchParams(at < 0 ? '' : hash.slice(at + 1)));
  const root = h('div', { class: 'view' });
  fill(main, root);

  const storage = /^\/s\/([^/]+)$/.exec(path);
  let view;
  if (storage) view = storageView(root, signal, decodeURIComponent(storage[1]), params);
  else if (path === '/search') {
    searchForm.q.value = params.q ?? '';
    searchForm.kind.value = params.kind ?? '';
    view = searchView(root, signal, params);
  } else view = storagesView(root, signal);
  view.catch((e) => {
    if (!signal.aborted && e.status !== 401) {
      fill(
        root,
        h('p', { class: 'error', role: 'alert' }, e.message),
        h('p', {}, h('a', { href: '#/' }, '← Storages')),
      );
    }
  });
}

whenUnauthorized(() => {
  token.clear();
  signInView('The token was refused (expired or revoked?): sign in again.');
});

signOutButton.addEventListener('click', () => {
  token.clear();
  history.replaceState(null, '', location.pathname);
  signInView();
});

searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const target = link('/search', { q: searchForm.q.value.trim(), kind: searchForm.kind.value });
  if (location.hash === target) route();
  else location.hash = target;
});

window.addEventListener('hashchange', route);

if (token.get()) {
  api('GET', '/v1/me').then(
    (me) => (signedIn(me.tenant), route()),
    (e) => e.status !== 401 && fill(main, h('p', { class: 'error', role: 'alert' }, e.message)),
  );
} else signInView();
