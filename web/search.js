// Search over every storage of this tenant: name substring, optional media kind.
import { api, query } from './api.js';
import { bytes, fill, h, link, when } from './dom.js';

export async function searchView(root, signal, { q = '', kind = '' }) {
  const body = h('tbody');
  const status = h('p', { class: 'muted', id: 'results-status' }, 'Searching…');
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const what = kind ? `${kind} files` : 'entries';
  fill(
    root,
    h('h1', {}, q ? `Search: ${what} named like “${q}”` : `Search: all ${what}`),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'results' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Storage', 'Folder', 'Size', 'Modified'].map((x) => h('th', {}, x)),
          ),
        ),
        body,
      ),
    ),
    status,
    more,
  );

  const { items: storages } = await api('GET', '/v1/storages');
  const names = new Map(storages.map((s) => [s.id, s.name]));
  let cursor = null;

  async function load() {
    more.disabled = true;
    const page = await api('GET', `/v1/search${query({ q, kind, limit: 100, cursor })}`);
    if (signal.aborted) return;
    body.append(...page.items.map(row));
    cursor = page.next;
    more.hidden = !cursor;
    more.disabled = false;
    const n = body.childElementCount;
    fill(status, n ? `${n} found${cursor ? ' so far' : ''}` : 'Nothing found.');
  }
  more.addEventListener('click', () => load().catch((e) => fill(status, e.message)));

  function row(e) {
    const parent = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
    const at = (dir) => link(`/s/${encodeURIComponent(e.storageId)}`, { dir });
    return h(
      'tr',
      {},
      h('td', { class: 'name' }, e.isDir ? h('a', { href: at(e.path) }, `${e.name}/`) : e.name),
      h('td', {}, names.get(e.storageId) ?? e.storageId),
      h('td', { class: 'name' }, h('a', { href: at(parent) }, parent)),
      h('td', { class: 'num' }, e.isDir ? '' : bytes(e.size)),
      // 0: the storage gives no time (an S3 prefix): an empty cell, not 1970.
      h('td', { class: 'date' }, when(e.mtime || null)),
    );
  }
  await load();
}
