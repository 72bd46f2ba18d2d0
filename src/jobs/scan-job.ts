import { hostname } from 'node:os';
import type { App } from '../app.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import type { ScanOptions } from '../scan/engine.js';
import type { RecordedScanResult } from '../scan/runner.js';
import { cancelledError } from '../storage/errors.js';
import { sleep } from '../util/sleep.js';
import type { LeaseHolder } from './lease.js';

/** A process's name in leases and scan rows: host, pid and a role (`worker`, `cli`). */
export function workerName(role: string): string {
  return `${role}@${hostname()}:${process.pid}`;
}

/** Another holder has the storage: who, and the scan it runs (as far as the index knows). */
export interface HeldBy {
  holder: LeaseHolder | undefined;
  scanId: number | undefined;
  startedAt: number | undefined;
}

/**
 * `orphaned`: the scan's lease was lost and nobody took the storage over (the fence never
 * moved on): the scan is owed again.
 */
export type LeasedScan = { ran: RecordedScanResult; orphaned: boolean } | { held: HeldBy };

export interface LeasedScanOptions {
  /** This process's name in the lease and the scan row. */
  workerId: string;
  jobId?: string | undefined;
  /** Keep trying (every `pollMs`) until the lease is free, instead of reporting who holds it. */
  wait?: boolean;
  /** @default 1000 */
  pollMs?: number;
  /** How often the scan's row is marked alive. @default a third of the lease's TTL */
  heartbeatMs?: number | undefined;
  /**
   * Asked once the lease is held, before the scan starts: false gives the lease back and runs
   * nothing, reported as held (by nobody now). A scheduler whose due run another process
   * made meanwhile — and released the lease just before this one took it — stops here.
   */
  stillWanted?: () => Promise<boolean>;
}

/**
 * Runs one scan of `storage` under its lease — the one way a scan is run in a fleet or in
 * processes sharing an index: the CLI and the worker both call this. The lease is held for
 * the whole scan and given back at its end; its fence goes with every write.
 */
export async function scanUnderLease(
  app: App,
  storage: StorageRecord,
  options: ScanOptions,
  o: LeasedScanOptions,
): Promise<LeasedScan> {
  const signal = options.signal;
  for (;;) {
    const lease = await app.leases.tryAcquire(storage.id, o.workerId);
    if (lease) {
      try {
        if (o.stillWanted && !(await o.stillWanted())) {
          return { held: { holder: undefined, scanId: undefined, startedAt: undefined } };
        }
        const queued = o.jobId ? await app.index.scans.queuedFor(o.jobId) : undefined;
        const ran = await app.scan(storage, options, {
          fence: lease.fence,
          lost: lease.lost,
          workerId: o.workerId,
          jobId: o.jobId,
          queuedScanId: queued,
          // In embedded mode the lease itself lives in the index and its renewal is the sign
          // of life; a second write every period would only contend for SQLite's one lock.
          heartbeatMs: app.fleet
            ? (o.heartbeatMs ?? Math.max(50, Math.floor(app.leaseTtlMs / 3)))
            : undefined,
        });
        return { ran, orphaned: lease.lost.aborted && !(await fenceMovedOn(app, lease)) };
      } finally {
        await lease.release();
      }
    }
    if (!o.wait) return { held: await heldBy(app, storage.id) };
    await sleep(o.pollMs ?? 1000, signal).catch(() => {
      throw cancelledError();
    });
  }
}

/** Whether a grant since `lease` moved the storage's fence on (a successor took it over). */
async function fenceMovedOn(
  app: App,
  lease: { storageId: number; fence: number },
): Promise<boolean> {
  const fence = await app.index.storages.fenceOf(lease.storageId);
  return fence === undefined || fence !== lease.fence;
}

async function heldBy(app: App, storageId: number): Promise<HeldBy> {
  const [holder, running] = await Promise.all([
    app.leases.holderOf(storageId),
    app.index.scans.inState(storageId, 'running'),
  ]);
  const scan = running[0];
  return { holder, scanId: scan?.id, startedAt: scan?.startedAt };
}
