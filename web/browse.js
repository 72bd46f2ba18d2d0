// The index browser of one storage: breadcrumbs, a sortable listing of one directory and a
// "More" button that follows the API's keyset cursor (no page numbers: pages stay exact while
// a scan changes the directory).
import { api, query } from './api.js';
import { bytes, fill, h, link, when } from './dom.js';

const SORTS = { name: 'Name', size: 'Size', mtime: 'Modified' };

/** `dir` is the directory shown; `sort`/`order` come from the address. */
export function browser(storage, { dir = '/', sort = 'name', order = 'asc' }, signal) {
  if (!(sort in SORTS)) sort = 'name';
  if (order !== 'desc') order = 'asc';
  const route = `/s/${encodeURIComponent(storage.id)}`;
  const at = (d, s = sort, o = order) => link(route, { dir: d, sort: s, order: o });

  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const status = h('p', { class: 'muted', id: 'entries-status' }, 'Loading…');
  const head = Object.entries(SORTS).map(([key, label]) => {
    const active = key === sort;
    const next = active && order === 'asc' ? 'desc' : 'asc';
    const arrow = active ? (order === 'asc' ? ' ▲' : ' ▼') : '';
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? `${order}ending` : null },
      h('a', { href: at(dir, key, next) }, label + arrow),
    );
  });
  head.push(h('th', { scope: 'col' }, 'Kind'));

  let cursor = null;
  async function load() {
    more.disabled = true;
    const q = query({ dir, sort, order, limit: 100, cursor });
    const page = await api('GET', `/v1/storages/${encodeURIComponent(storage.id)}/entries${q}`);
    if (signal.aborted) return;
    body.append(...page.items.map(row));
    cursor = page.next;
    more.hidden = !cursor;
    more.disabled = false;
    const n = body.childElementCount;
    fill(status, n ? `${n} entries${cursor ? ' shown' : ''}` : 'Nothing indexed here yet.');
  }
  more.addEventListener('click', () => load().catch((e) => fill(status, e.message)));

  function row(e) {
    const name = e.isDir ? h('a', { href: at(e.path), class: 'dir' }, `${e.name}/`) : e.name;
    return h(
      'tr',
      {},
      h('td', { class: 'name' }, name),
      h('td', { class: 'num' }, e.isDir ? '' : bytes(e.size)),
      // 0: the storage gives no time (an S3 prefix): an empty cell, not 1970.
      h('td', { class: 'date' }, when(e.mtime || null)),
      h('td', {}, e.isDir ? 'folder' : (e.mediaKind ?? '')),
    );
  }

  const section = h(
    'section',
    { class: 'browser' },
    h('h2', {}, 'Index'),
    crumbs(storage.name, dir, at),
    h(
      'div',
      { class: 'scroll' },
      h('table', { id: 'entries' }, h('thead', {}, h('tr', {}, head)), body),
    ),
    status,
    more,
  );
  load().catch((e) => fill(status, e.message));
  return section;
}

/** Breadcrumbs from the storage's root to `dir`; the last one is where the reader is. */
function crumbs(rootName, dir, at) {
  const parts = dir.split('/').filter(Boolean);
  const items = [{ label: rootName, path: '/' }];
  parts.forEach((p, i) => items.push({ label: p, path: `/${parts.slice(0, i + 1).join('/')}` }));
  return h(
    'nav',
    { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    h(
      'ol',
      {},
      items.map((c, i) =>
        h(
          'li',
          {},
          i === items.length - 1
            ? h('span', { 'aria-current': 'page' }, c.label)
            : h('a', { href: at(c.path) }, c.label),
        ),
      ),
    ),
  );
}
