import type { EntryRepository, EntryScope } from '../db/entries.js';
import { isCancellation } from '../db/errors.js';
import { guard } from '../db/guard.js';
import { UnindexedEntries } from '../db/unindexed-entries.js';
import type { Methods } from '../db/open.js';
import type { ScanRepository } from '../db/repositories/scans.js';
import type { MemoryBudget } from '../storage/limits/budget.js';
import type { StorageService } from '../storage/service.js';
import { DEFAULT_LISTERS, scan, type ScanOptions } from './engine.js';
import { progressWriter } from './progress-writer.js';
import { endedEarly, recordEnd } from './recording.js';
import type { ScanResult } from './result.js';

export interface ScanRunnerDeps {
  storage: StorageService;
  entries: EntryRepository;
  scans: Methods<ScanRepository>;
  /** The process's memory budget for listings in flight, shared by all its scans. */
  budget?: MemoryBudget;
}

export interface ScanTarget {
  tenantId: number;
  storageId: number;
  /** The storage's lease this scan runs under (a worker, or a CLI sharing the index). */
  lease?: ScanLease | undefined;
  /** Write each batch's change event to the outbox, in the batch's transaction (fleet mode). */
  outbox?: boolean | undefined;
  /**
   * The index holds no row of this storage (it lives only in this process): a dry run of it
   * reads nothing from the index, every entry it lists being new.
   */
  unindexed?: boolean | undefined;
}

/** What a scan needs of the lease it holds. */
export interface ScanLease {
  /** The fence granted: every write of the scan checks it. */
  fence: number;
  /** Aborts when the lease is lost: the scan stops, its writes are refused anyway. */
  lost: AbortSignal;
  workerId: string;
  jobId?: string | undefined;
  /** The job's `queued` row, to be turned `running` instead of a new row. */
  queuedScanId?: number | undefined;
  /** How often the scan's row is marked alive; none when undefined (the lease's renewal is the sign of life). */
  heartbeatMs?: number | undefined;
}

export interface RecordedScanResult extends ScanResult {
  /** null for a dry run, which records nothing. */
  scanId: number | null;
  storageId: number;
  /**
   * Whether the scan's history row holds this result. False for a dry run (no row), and
   * when the index could not take the scan's end: its row stays `running` (the error sample
   * says why).
   */
  recorded: boolean;
}

/** Options worth keeping in the scan history (no callbacks, no signal). */
function recordable(o: ScanOptions): Record<string, unknown> {
  const { signal: _s, onProgress: _p, onChanges: _c, ...rest } = o;
  return { ...rest, maxDepth: rest.maxDepth === Infinity ? null : rest.maxDepth };
}

/**
 * Runs one scan and keeps its history: a `running` row first (so a crashed scan is
 * visible), its final status and counters at the end. It resolves with a result whatever
 * fails, the index included: a failed or unrecordable scan is `failed` with the cause in
 * its error sample (code INDEX_… for the index, a storage code, or INTERNAL), a cancelled
 * one `cancelled`. `durationMs` runs from this call, connects and waits included.
 */
export async function runScan(
  deps: ScanRunnerDeps,
  target: ScanTarget,
  options: ScanOptions = {},
): Promise<RecordedScanResult> {
  const started = Date.now();
  const lease = target.lease;
  // A cancel asked through the API (seen by the progress writer) stops the scan too.
  const asked = new AbortController();
  // A lost lease stops the scan like a cancel (its writes would be refused anyway).
  const signal = AbortSignal.any(
    [options.signal, lease?.lost, asked.signal].filter((s) => s !== undefined),
  );
  const scope: EntryScope = {
    tenantId: target.tenantId,
    storageId: target.storageId,
    fence: lease?.fence,
  };
  const claim = lease && {
    fence: lease.fence,
    workerId: lease.workerId,
    jobId: lease.jobId,
  };
  const done = (result: ScanResult, scanId: number | null, recorded = false) => ({
    ...result,
    scanId,
    storageId: target.storageId,
    recorded,
  });
  const elapsed = (result: ScanResult): ScanResult => ({
    ...result,
    durationMs: Date.now() - started,
  });
  // Cancelled before anything was written: nothing to record.
  if (signal.aborted) return done(elapsed(endedEarly('cancelled')), null);
  let scanId: number | null = null;
  if (!options.dryRun) {
    try {
      scanId = await guard(deps.scans, signal).start(
        scope,
        recordable(options),
        claim,
        lease?.queuedScanId,
      );
    } catch (error) {
      const status = isCancellation(error) ? 'cancelled' : 'failed';
      return done(elapsed(endedEarly(status, status === 'failed' ? error : undefined)), null);
    }
  }
  if (target.outbox && !options.dryRun) scope.outbox = { scanId };
  let result: ScanResult;
  const progress =
    scanId === null ? undefined : progressWriter(deps.scans, scanId, () => asked.abort());
  if (progress) {
    const display = options.onProgress;
    options = {
      ...options,
      onProgress: (p) => {
        progress.observe(p);
        display?.(p);
      },
    };
  }
  const heart =
    lease?.heartbeatMs !== undefined && scanId !== null
      ? heartbeat(deps.scans, scanId, scope, lease)
      : undefined;
  try {
    // open() connects first, so the handle knows whether the backend lists trees (S3). The
    // signal ends the wait at once, however long the backend's connect takes.
    const handle = await deps.storage.open(target.storageId, { signal });
    // The service counts per storage over its lifetime; a scan reports only its own share.
    const base = deps.storage.stats(target.storageId);
    const storageStats = () => {
      const now = deps.storage.stats(target.storageId);
      return {
        retries: now.retries - base.retries,
        rateLimitWaits: now.rateLimitWaits - base.rateLimitWaits,
      };
    };
    // Enough listers to keep every request slot of the storage busy, and twice that so a
    // lister waiting out a rate limit does not leave a slot idle.
    const slots = deps.storage.concurrency(target.storageId)?.max ?? 0;
    const listers = options.listers ?? Math.max(DEFAULT_LISTERS, 2 * slots);
    // Every index call of the scan hears its signal and fails with a coded IndexError.
    const entries = guard(
      target.unindexed && options.dryRun ? new UnindexedEntries(deps.entries) : deps.entries,
      signal,
    );
    const engineDeps = { storage: handle, entries, storageStats };
    result = await scan(deps.budget ? { ...engineDeps, budget: deps.budget } : engineDeps, scope, {
      ...options,
      signal,
      listers,
    });
  } catch (error) {
    result =
      signal.aborted && isCancellation(error)
        ? endedEarly('cancelled')
        : endedEarly('failed', error);
  }
  heart?.stop();
  progress?.stop();
  result = elapsed(result);
  if (scanId === null) return done(result, null);
  const end = await recordEnd(
    deps.scans,
    scanId,
    result,
    lease && { storageId: target.storageId, fence: lease.fence },
  );
  // After the result is recorded (a scan's history never waits for it), still under the
  // scan's lease. Not after a failed or cancelled scan: the load may go on next time.
  if (
    end.result.created > 0 &&
    (end.result.status === 'succeeded' || end.result.status === 'partial')
  ) {
    await deps.entries.afterScan?.(end.result.created, signal);
  }
  return done(end.result, scanId, end.recorded);
}

/**
 * Marks a leased scan's row alive every `heartbeatMs`, fenced: so a reaper can tell a scan
 * whose worker died. A refused heartbeat (the fence moved on) means the lease is lost; the
 * scan hears it through the lease's own signal.
 */
function heartbeat(
  scans: Methods<ScanRepository>,
  scanId: number,
  scope: { storageId: number },
  lease: ScanLease,
): { stop(): void } {
  const timer = setInterval(() => {
    scans.heartbeat(scanId, scope.storageId, lease.fence).catch(() => undefined);
  }, lease.heartbeatMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
