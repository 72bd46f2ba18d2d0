import type { ScanCounters, ScanErrorSample, ScanStatus } from '../db/repositories/scans.js';

export type { ScanCounters, ScanErrorSample, ScanStatus };

/** How a scan run ends, as its runner reports it (`queued`, `running` and `interrupted` are states of its row). */
export type FinalStatus = Exclude<ScanStatus, 'queued' | 'running' | 'interrupted'>;

export interface ScanResult extends ScanCounters {
  status: FinalStatus;
}

/** Live counters while a scan runs. */
export interface ScanProgress {
  /** Directories listed so far (the root included). */
  dirsListed: number;
  /** Directories known and not yet listed: waiting, or being listed now (so listed + queued is every directory found so far). */
  dirsQueued: number;
  /** Entries below the root seen by the reconciler so far. */
  dirs: number;
  files: number;
  bytes: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  skipped: number;
  errors: number;
  retries: number;
  rateLimitWaits: number;
  elapsedMs: number;
}

/** Entry ids a committed batch changed, for downstream work (thumbnails, metadata…). */
export interface ChangeBatch {
  created: number[];
  updated: number[];
  deleted: number[];
}

export type ChangeSink = (changes: ChangeBatch) => void | Promise<void>;

export function emptyCounters(): ScanCounters {
  return {
    dirs: 0,
    files: 0,
    mediaFiles: 0,
    bytes: 0,
    created: 0,
    updated: 0,
    deleted: 0,
    unchanged: 0,
    skipped: 0,
    errors: 0,
    invalidEntries: 0,
    errorSample: [],
    retries: 0,
    rateLimitWaits: 0,
    durationMs: 0,
  };
}
