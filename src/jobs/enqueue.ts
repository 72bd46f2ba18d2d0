import type { App } from '../app.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import { NoQueueError } from './no-queue.js';
import { ScanQueue, type Enqueued, type ScanJobData } from './scan-queue.js';

export { NoQueueError };

export interface EnqueuedScan extends Enqueued {
  /** The `queued` row in the scan history, when this trigger made a new job. */
  scanId: number | undefined;
}

/**
 * Queues a scan of `storage` for the fleet's workers. Its `queued` history row is written
 * first, under the job's id, so a worker that picks the job at once finds it; when the
 * trigger collapses into a scan already waiting, that row goes again and the existing job
 * is reported. While the storage is being scanned, the trigger is kept to run after that
 * scan (`after`): a change made during a scan is never left for the next schedule.
 */
export async function enqueueScan(
  app: App,
  storage: StorageRecord,
  reason: ScanJobData['reason'] = 'trigger',
): Promise<EnqueuedScan> {
  const queue = app.scanQueue;
  if (!queue) throw new NoQueueError();
  const jobId = ScanQueue.newJobId(storage.id);
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  const scanId = await app.index.scans.enqueue(scope, jobId);
  try {
    const e = await queue.enqueue(
      { tenantId: storage.tenantId, storageId: storage.id, version: storage.version, reason },
      { jobId },
    );
    if (e.created && e.after === undefined) return { ...e, scanId };
    // Joined a waiting job — or kept to run after the running one, where a later trigger may
    // take its place (BullMQ keeps only the last): that job gets its row when it starts.
    await app.index.scans.dropQueued(scanId);
    return { ...e, scanId: undefined };
  } catch (error) {
    await app.index.scans.dropQueued(scanId).catch(() => undefined);
    throw error;
  }
}
