// Every node is built here, and text only ever becomes a text node: nothing a server says
// (file names, error messages) reaches innerHTML, so a name like `<script>` stays a name.

/**
 * Creates an element. `props`: `class`, `on<event>` handlers, booleans (`hidden`,
 * `disabled`), everything else as an attribute. Children: nodes, strings (as text), or
 * null/false (skipped); arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table whose wide columns scroll inside it, never the page (readable at 375 px). */
export function table(headers, rows, props = {}) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      props,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', { scope: 'col' }, x)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

export function bytes(n) {
  if (n === null || n === undefined) return '';
  let v = Number(n);
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`;
}

const numbers = new Intl.NumberFormat();
export const count = (n) => numbers.format(Number(n ?? 0));

const two = (n) => String(n).padStart(2, '0');

/** A time as local `YYYY-MM-DD HH:MM`: short enough for a phone's table cell, unambiguous. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const day = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  return `${day} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const STATUSES = new Set([
  'queued',
  'running',
  'succeeded',
  'partial',
  'failed',
  'cancelled',
  'interrupted',
]);

/** A scan status as a badge; the class comes from a fixed set, never from the server. */
export function badge(status) {
  const known = STATUSES.has(status) ? status : 'unknown';
  return h('span', { class: `badge st-${known}` }, status ?? 'never scanned');
}

/** `#/route?k=v` built from parts, every part encoded. */
export function link(route, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#${route}${s ? `?${s}` : ''}`;
}
