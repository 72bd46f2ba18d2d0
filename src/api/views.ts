import { formatEvery } from '../catalog/schedule.js';
import type { ScanRecord } from '../db/repositories/scans.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import { secretKeysOf } from '../storage/options.js';
import { backendFor } from '../storage/registry.js';
import type { ScanView, StorageView } from './schemas.js';

/** A scan as the API shows it (who ran it and its lease stay inside). */
export function scanView(s: ScanRecord): ScanView {
  return {
    id: s.id,
    storageId: s.storageId,
    status: s.status,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    durationMs: s.durationMs,
    dirs: s.dirs,
    files: s.files,
    mediaFiles: s.mediaFiles,
    bytes: s.bytes,
    created: s.created,
    updated: s.updated,
    deleted: s.deleted,
    unchanged: s.unchanged,
    skipped: s.skipped,
    errors: s.errors,
    invalidEntries: s.invalidEntries,
    errorSample: s.errorSample,
    cancelRequested: s.cancelRequested,
    progress: s.progress,
  };
}

/**
 * A storage as the API shows it. Secrets are write-only: their values — sealed or not —
 * never leave, only the names of those that are set.
 */
export function storageView(s: StorageRecord, lastScan: ScanRecord | undefined): StorageView {
  const secret = new Set(secretKeysOf(backendFor(s.kind).options));
  const options: Record<string, unknown> = {};
  const secrets: string[] = [];
  for (const [key, value] of Object.entries((s.options ?? {}) as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (secret.has(key)) secrets.push(key);
    else options[key] = value;
  }
  return {
    id: s.id,
    name: s.name,
    kind: s.kind,
    location: s.location,
    options,
    secrets: secrets.sort(),
    enabled: s.enabled,
    maxConcurrency: s.maxConcurrency,
    schedule: {
      every: s.scheduleEveryMs ? formatEvery(s.scheduleEveryMs) : null,
      cron: s.scheduleCron ?? null,
    },
    version: s.version,
    createdAt: s.createdAt ?? 0,
    updatedAt: s.updatedAt ?? 0,
    lastScan: lastScan ? scanView(lastScan) : null,
  };
}
