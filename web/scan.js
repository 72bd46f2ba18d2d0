// A scan's live progress. The total is unknown while the walk runs (directories are found as
// they are listed), so the bar is directories listed out of listed + still queued: it can move
// back as new directories turn up, and it reaches the end when the queue is empty.
import { api, scanEvents } from './api.js';
import { badge, bytes, count, duration, fill, h } from './dom.js';

const ACTIVE = new Set(['queued', 'running']);
export const isActive = (scan) => Boolean(scan && ACTIVE.has(scan.status));

/** One line summing up a finished (or running) scan's counters. */
export function summary(scan) {
  const parts = [
    `${count(scan.files)} files`,
    `${count(scan.dirs)} dirs`,
    bytes(scan.bytes),
    `+${count(scan.created)} ~${count(scan.updated)} −${count(scan.deleted)}`,
  ];
  if (scan.errors) parts.push(`${count(scan.errors)} errors`);
  if (scan.durationMs !== null && scan.durationMs !== undefined) {
    parts.push(duration(scan.durationMs));
  }
  return parts.join(' · ');
}

/**
 * Follows a scan until its `end` event (or until `signal` aborts: the view was left).
 * Returns the element showing it; `onEnd(scan)` gets the final Scan.
 */
export function scanProgress(scan, { signal, onEnd = () => {} }) {
  const bar = h('progress', { max: 1, 'aria-label': 'Directories listed' });
  const status = h('span', {}, badge(scan.status));
  const text = h('span', { class: 'muted' }, 'waiting for the first listing…');
  const box = h(
    'div',
    { class: 'progress', 'data-scan': scan.id, 'data-status': scan.status, 'aria-live': 'polite' },
    h('div', { class: 'line' }, status, ' ', text),
    bar,
  );
  const events = scanEvents(scan.id);
  signal.addEventListener('abort', () => events.close(), { once: true });

  events.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    const listed = Number(p.dirsListed ?? 0);
    const total = listed + Number(p.dirsQueued ?? 0);
    if (total > 0) {
      bar.max = total;
      bar.value = listed;
    }
    box.dataset.status = 'running';
    fill(status, badge('running'));
    fill(
      text,
      `${count(listed)} of ${count(total)} dirs listed · ${count(p.files)} files · ` +
        `${bytes(p.bytes)} · ${count(Math.round(p.ratePerSec ?? 0))} entries/s`,
    );
  });

  events.addEventListener('status', (e) => {
    // A final status is shown with its Scan, which the `end` event right after carries.
    const now = JSON.parse(e.data);
    if (!isActive(now)) return;
    box.dataset.status = now.status;
    fill(status, badge(now.status));
  });

  events.addEventListener('end', (e) => {
    events.close();
    finish(JSON.parse(e.data));
  });

  events.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself. CLOSED: the stream was refused (gone, or
    // the token no longer valid); read the scan once instead of following it.
    if (events.readyState !== EventSource.CLOSED || signal.aborted) return;
    api('GET', `/v1/scans/${encodeURIComponent(scan.id)}`).then(
      (latest) => (isActive(latest) ? fill(text, 'live progress lost: reload') : finish(latest)),
      (err) => fill(text, `live progress lost: ${err.message}`),
    );
  });

  function finish(final) {
    box.dataset.status = final.status;
    // A walk that ran to its end (even with some errors) fills the bar; one that stopped
    // early keeps where it stopped.
    if (final.status === 'succeeded' || final.status === 'partial') {
      bar.max = 1;
      bar.value = 1;
    }
    fill(status, badge(final.status));
    fill(text, summary(final));
    onEnd(final);
  }
  return box;
}

/** Starts a scan of a storage; resolves to its Scan (an already queued one is joined). */
export async function startScan(storageId) {
  const { scan } = await api('POST', `/v1/storages/${encodeURIComponent(storageId)}/scans`);
  return scan;
}
