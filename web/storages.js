// The front page: this tenant's storages, each with its last scan and a scan button, and the
// form that adds one.
import { api, ApiError } from './api.js';
import { badge, fill, h, link, when } from './dom.js';
import { isActive, scanProgress, startScan, summary } from './scan.js';

export function storagesView(root, signal) {
  const list = h('div', { class: 'cards', id: 'storages' }, h('p', { class: 'muted' }, 'Loading…'));
  fill(root, h('h1', {}, 'Storages'), list, addForm(refresh));

  async function refresh() {
    const { items } = await api('GET', '/v1/storages');
    if (signal.aborted) return;
    fill(
      list,
      items.length
        ? items.map((s) => storageCard(s, signal))
        : h('p', { class: 'muted' }, 'No storages yet: add one below.'),
    );
  }
  return refresh();
}

/** The last scan of a storage in one line: status, when, counters. */
export function lastScanLine(scan) {
  const label = h('span', { class: 'muted' }, 'Last scan: ');
  if (!scan) return [label, badge(null)];
  return [
    label,
    badge(scan.status),
    ' ',
    when(scan.finishedAt ?? scan.startedAt),
    ' · ',
    summary(scan),
  ];
}

function storageCard(s, signal) {
  const last = h('p', { class: 'last' }, lastScanLine(s.lastScan));
  const slot = h('div');
  const button = h('button', { type: 'button', onclick: () => scan() }, 'Scan');
  const follow = (scanRow) => {
    button.disabled = true;
    fill(
      slot,
      scanProgress(scanRow, {
        signal,
        onEnd: (final) => {
          button.disabled = false;
          fill(last, lastScanLine(final));
        },
      }),
    );
  };
  async function scan() {
    button.disabled = true;
    try {
      follow(await startScan(s.id));
    } catch (e) {
      button.disabled = false;
      fill(slot, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }
  if (isActive(s.lastScan)) follow(s.lastScan);

  return h(
    'article',
    { class: 'card storage', 'data-id': s.id },
    h(
      'div',
      { class: 'head' },
      h('h2', {}, h('a', { href: link(`/s/${encodeURIComponent(s.id)}`) }, s.name)),
      s.enabled === false ? h('span', { class: 'badge' }, 'disabled') : null,
      h('span', { class: 'grow' }),
      button,
    ),
    h('p', { class: 'muted loc' }, `${s.kind} · ${s.location}`, schedule(s.schedule)),
    last,
    slot,
  );
}

export function schedule(sch) {
  if (sch?.every) return ` · every ${sch.every}`;
  if (sch?.cron) return ` · cron ${sch.cron}`;
  return '';
}

function addForm(onAdded) {
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const inputs = {
    url: h('input', {
      name: 'url',
      required: true,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'webdav://user:pw@host/dir, s3://bucket/prefix, /srv/files',
    }),
    name: h('input', { name: 'name', autocomplete: 'off', placeholder: 'optional' }),
    schedule: h('input', {
      name: 'schedule',
      autocomplete: 'off',
      placeholder: 'optional: 6h, 1d, or cron 0 3 * * *',
    }),
  };
  const field = (label, input) => h('label', {}, h('span', {}, label), input);
  const form = h(
    'form',
    { class: 'card add', id: 'add-storage', onsubmit: submit },
    h('h2', {}, 'Add a storage'),
    field('URL', inputs.url),
    field('Name', inputs.name),
    field('Schedule', inputs.schedule),
    message,
    h('button', {}, 'Add storage'),
  );

  async function submit(event) {
    event.preventDefault();
    message.hidden = true;
    for (const input of Object.values(inputs)) input.removeAttribute('aria-invalid');
    const body = { url: inputs.url.value.trim() };
    const name = inputs.name.value.trim();
    const sch = inputs.schedule.value.trim();
    if (name) body.name = name;
    // A cron expression has fields separated by spaces; a duration has none.
    if (sch) body[/\s/.test(sch) ? 'cron' : 'every'] = sch;
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      await api('POST', '/v1/storages', body);
      form.reset();
      await onAdded();
    } catch (e) {
      // The API names a body field as `body.<name>`.
      const f = e instanceof ApiError ? e.field?.replace(/^body\./, '') : undefined;
      const input = f === 'every' || f === 'cron' ? inputs.schedule : (inputs[f] ?? null);
      input?.setAttribute('aria-invalid', 'true');
      fill(message, e.message);
      message.hidden = false;
    } finally {
      button.disabled = false;
    }
  }
  return form;
}
