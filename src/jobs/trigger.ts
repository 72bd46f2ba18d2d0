import { randomUUID } from 'node:crypto';
import type { App } from '../app.js';
import type { ScanRecord } from '../db/repositories/scans.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import { enqueueScan } from './enqueue.js';

export interface Triggered {
  /** The scan that will answer this trigger: its own `queued` row, or the one it joined. */
  scan: ScanRecord | undefined;
  /** True when the trigger collapsed into a scan already asked for (or running). */
  deduplicated: boolean;
}

/**
 * Asks for a scan of `storage` now, deduplicated as in fleet mode: in a fleet a BullMQ job
 * (see enqueueScan); embedded, a `queued` row that this process's embedded worker runs —
 * one waiting row per storage, so a second trigger joins the first. `wake` tells the
 * in-process worker to look now instead of at its next poll.
 */
export async function triggerScan(
  app: App,
  storage: StorageRecord,
  wake?: () => void,
): Promise<Triggered> {
  const scans = app.index.scans;
  if (app.scanQueue) {
    const e = await enqueueScan(app, storage);
    if (e.scanId !== undefined) return { scan: await scans.get(e.scanId), deduplicated: false };
    // Joined a waiting job (its row), or kept to run after the running scan (that one).
    const joined = await scans.queuedFor(e.jobId);
    const scan =
      joined !== undefined
        ? await scans.get(joined)
        : (await scans.inState(storage.id, 'running'))[0];
    return { scan, deduplicated: true };
  }
  // One look-then-write at a time in this process, so two triggers at once make one row.
  const turn = embeddedTurn.then(async (): Promise<Triggered> => {
    const waiting = (await scans.inState(storage.id, 'queued'))[0];
    if (waiting) return { scan: waiting, deduplicated: true };
    const id = await scans.enqueue(
      { tenantId: storage.tenantId, storageId: storage.id },
      `manual-${storage.id}-${randomUUID()}`,
    );
    return { scan: await scans.get(id), deduplicated: false };
  });
  embeddedTurn = turn.catch(() => undefined);
  const out = await turn;
  if (!out.deduplicated) wake?.();
  return out;
}

let embeddedTurn: Promise<unknown> = Promise.resolve();
