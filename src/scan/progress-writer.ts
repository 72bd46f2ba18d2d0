import type { Methods } from '../db/open.js';
import type { ScanRepository } from '../db/repositories/scans.js';
import type { ScanProgress } from './result.js';

/** How often a running scan's progress goes to its row. */
export const PROGRESS_WRITE_MS = 1_000;
/** The first write, sooner. */
const FIRST_WRITE_MS = 300;

export interface ProgressWriter {
  /** The engine's latest progress: kept, written at the next tick. */
  observe(progress: ScanProgress): void;
  stop(): void;
}

/**
 * Writes a running scan's latest progress to its row about once a second — the one channel
 * that reaches every API node whichever process runs the scan — and hears back whether a
 * cancel was asked (`onCancel`). A failed write is skipped, never the scan's failure: the
 * next tick tries again.
 */
export function progressWriter(
  scans: Methods<ScanRepository>,
  scanId: number,
  onCancel: () => void,
  everyMs = PROGRESS_WRITE_MS,
): ProgressWriter {
  let latest: ScanProgress | undefined;
  let last: { at: number; seen: number } | undefined;
  let writing = false;
  const tick = () => {
    if (writing) return;
    writing = true;
    const now = Date.now();
    const p = latest;
    const seen = p ? p.dirs + p.files : 0;
    // Entries per second since the last write: what the page shows as the rate.
    const ratePerSec = last && now > last.at ? ((seen - last.seen) * 1000) / (now - last.at) : 0;
    last = { at: now, seen };
    const row: Record<string, number> = p
      ? {
          dirsListed: p.dirsListed,
          dirsQueued: p.dirsQueued,
          dirs: p.dirs,
          files: p.files,
          bytes: p.bytes,
          created: p.created,
          updated: p.updated,
          deleted: p.deleted,
          unchanged: p.unchanged,
          errors: p.errors,
          ratePerSec: Math.max(0, Math.round(ratePerSec)),
          at: now,
        }
      : { at: now };
    scans
      .writeProgress(scanId, row)
      .then((cancel) => {
        if (cancel) onCancel();
      })
      .catch(() => undefined)
      .finally(() => {
        writing = false;
      });
  };
  // A first look soon after the start, so that a page shows a scan moving at once.
  const first = setTimeout(tick, Math.min(FIRST_WRITE_MS, everyMs));
  const timer = setInterval(tick, everyMs);
  first.unref();
  timer.unref();
  return {
    observe(progress) {
      latest = progress;
    },
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
