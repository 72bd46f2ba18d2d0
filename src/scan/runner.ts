import type { EntryRepository } from '../db/entries.js';
import type { ScanRepository } from '../db/repositories/scans.js';
import type { MemoryBudget } from '../storage/limits/budget.js';
import type { StorageService } from '../storage/service.js';
import { DEFAULT_LISTERS, scan, type ScanOptions } from './engine.js';
import { emptyCounters, type ScanResult } from './result.js';

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
}

/** Options worth keeping in the scan history (no callbacks, no signal). */
function recordable(o: ScanOptions): Record<string, unknown> {
  const { signal: _s, onProgress: _p, onChanges: _c, ...rest } = o;
  return { ...rest, maxDepth: rest.maxDepth === Infinity ? null : rest.maxDepth };
}

/**
 * Runs one scan and keeps its history: a `running` row first (so a crashed scan is
 * visible), its final status and counters at the end.
 */
export async function runScan(
  deps: ScanRunnerDeps,
  target: ScanTarget,
  options: ScanOptions = {},
): Promise<RecordedScanResult> {
  const scanId = options.dryRun ? null : await deps.scans.start(target, recordable(options));
  let result: ScanResult;
  try {
    // open() connects first, so the handle knows whether the backend lists trees (S3).
    const handle = await deps.storage.open(target.storageId);
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
    const engineDeps = { storage: handle, entries: deps.entries, storageStats };
    result = await scan(deps.budget ? { ...engineDeps, budget: deps.budget } : engineDeps, target, {
      ...options,
      listers,
    });
  } catch (error) {
    if (scanId !== null) {
      await deps.scans.finish(scanId, 'failed', {
        ...emptyCounters(),
        errors: 1,
        errorSample: [{ path: '/', code: 'INTERNAL', message: (error as Error).message }],
      });
    }
    throw error;
  }
  if (scanId !== null) await deps.scans.finish(scanId, result.status, result);
  return { ...result, scanId, storageId: target.storageId };
}
