import type { EntryRepository } from '../db/entries.js';
import { isCancellation } from '../db/errors.js';
import { guard } from '../db/guard.js';
import type { ScanRepository } from '../db/repositories/scans.js';
import type { MemoryBudget } from '../storage/limits/budget.js';
import type { StorageService } from '../storage/service.js';
import { DEFAULT_LISTERS, scan, type ScanOptions } from './engine.js';
import { endedEarly, recordEnd } from './recording.js';
import type { ScanResult } from './result.js';

export interface ScanRunnerDeps {
  storage: StorageService;
  entries: EntryRepository;
  scans: ScanRepository;
  /** The process's memory budget for listings in flight, shared by all its scans. */
  budget?: MemoryBudget;
}

export interface ScanTarget {
  tenantId: number;
  storageId: number;
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
  const signal = options.signal;
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
  if (signal?.aborted) return done(elapsed(endedEarly('cancelled')), null);
  let scanId: number | null = null;
  if (!options.dryRun) {
    try {
      scanId = await guard(deps.scans, signal).start(target, recordable(options));
    } catch (error) {
      const status = isCancellation(error) ? 'cancelled' : 'failed';
      return done(elapsed(endedEarly(status, status === 'failed' ? error : undefined)), null);
    }
  }
  let result: ScanResult;
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
    const entries = guard(deps.entries, signal);
    const engineDeps = { storage: handle, entries, storageStats };
    result = await scan(deps.budget ? { ...engineDeps, budget: deps.budget } : engineDeps, target, {
      ...options,
      listers,
    });
  } catch (error) {
    result =
      signal?.aborted && isCancellation(error)
        ? endedEarly('cancelled')
        : endedEarly('failed', error);
  }
  result = elapsed(result);
  if (scanId === null) return done(result, null);
  const end = await recordEnd(deps.scans, scanId, result);
  return done(end.result, scanId, end.recorded);
}
