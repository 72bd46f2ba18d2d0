// One storage: what it is, a scan button with live progress, the index browser and the
// scan history.
import { api } from './api.js';
import { badge, bytes, count, duration, fill, h, table, when } from './dom.js';
import { browser } from './browse.js';
import { isActive, scanProgress, startScan } from './scan.js';
import { schedule } from './storages.js';

export async function storageView(root, signal, id, params) {
  const path = `/v1/storages/${encodeURIComponent(id)}`;
  const s = await api('GET', path);
  if (signal.aborted) return;

  const slot = h('div');
  const history = h('div', { id: 'history' });
  const stats = h('p', { class: 'muted' });
  const scanButton = h('button', { type: 'button', onclick: scan }, 'Scan now');
  const remove = h('button', { type: 'button', class: 'danger', onclick: del }, 'Delete');

  fill(
    root,
    h('p', {}, h('a', { href: '#/' }, '← Storages')),
    h(
      'div',
      { class: 'head' },
      h('h1', {}, s.name),
      h('span', { class: 'grow' }),
      scanButton,
      remove,
    ),
    h('p', { class: 'muted loc' }, `${s.kind} · ${s.location}`, schedule(s.schedule)),
    stats,
    slot,
    browser(s, params, signal),
    h('section', {}, h('h2', {}, 'Scan history'), history),
  );

  function follow(scanRow) {
    scanButton.disabled = true;
    const onEnd = () => {
      scanButton.disabled = false;
      loadHistory();
      loadStats();
    };
    fill(slot, scanProgress(scanRow, { signal, onEnd }));
  }
  async function scan() {
    scanButton.disabled = true;
    try {
      follow(await startScan(s.id));
      loadHistory();
    } catch (e) {
      scanButton.disabled = false;
      fill(slot, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }
  async function del() {
    if (!confirm(`Delete the storage "${s.name}" and its index?`)) return;
    try {
      await api('DELETE', path);
      location.hash = '#/';
    } catch (e) {
      fill(slot, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }
  async function loadStats() {
    const t = await api('GET', `${path}/stats`).catch(() => null);
    if (t && !signal.aborted) {
      fill(stats, `${count(t.files)} files · ${count(t.dirs)} dirs · ${bytes(t.bytes)} indexed`);
    }
  }
  async function loadHistory() {
    try {
      const { items } = await api('GET', `${path}/scans?limit=20`);
      if (signal.aborted) return;
      fill(
        history,
        items.length ? historyTable(items) : h('p', { class: 'muted' }, 'No scans yet.'),
      );
    } catch (e) {
      fill(history, h('p', { class: 'error' }, e.message));
    }
  }

  if (isActive(s.lastScan)) follow(s.lastScan);
  loadStats();
  await loadHistory();
}

function historyTable(scans) {
  return table(
    ['Started', 'Status', 'Took', 'Files', 'Dirs', 'Size', 'Changes', 'Errors'],
    scans.map((x) => {
      const sample = (x.errorSample ?? []).map((e) => `${e.path}: ${e.code} ${e.message}`);
      return h(
        'tr',
        {},
        h('td', { class: 'date' }, when(x.startedAt)),
        h('td', {}, badge(x.status)),
        h('td', { class: 'num' }, duration(x.durationMs)),
        h('td', { class: 'num' }, count(x.files)),
        h('td', { class: 'num' }, count(x.dirs)),
        h('td', { class: 'num' }, bytes(x.bytes)),
        h('td', {}, `+${count(x.created)} ~${count(x.updated)} −${count(x.deleted)}`),
        h('td', { class: 'num', title: sample.join('\n') || null }, count(x.errors)),
      );
    }),
    { class: 'history' },
  );
}
