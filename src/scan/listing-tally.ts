import type { Entry } from '../storage/types.js';
import type { DirDiff } from './diff.js';
import type { ScanCounters } from './result.js';
import { SeenNames } from './seen-names.js';

/**
 * What one paged listing has added to the scan's counters, kept so that a listing abandoned
 * for a relisting (a marker file came late: `broken` with `relisted`) can take it back. The
 * relisting counts the directory as a clean scan would; counting both would count every entry
 * the abandoned listing showed twice.
 *
 * What the abandoned listing wrote stays written, so its `created`/`updated`/`deleted` stand
 * (the change sink heard of them) and the relisting does not count those entries again as
 * `unchanged`: the names of the files it wrote are kept as hashes ({@link SeenNames}, 8 bytes
 * a name). A dry run wrote nothing, so there every count is taken back and the relisting,
 * which sees the same index, counts anew.
 */
export class ListingTally {
  dirs = 0;
  files = 0;
  mediaFiles = 0;
  bytes = 0;
  skipped = 0;
  unchanged = 0;
  created = 0;
  updated = 0;
  deleted = 0;
  /**
   * Files this listing wrote (new or changed), by name. Not kept for a listing of a directory
   * the index held nothing of: it wrote every file it showed, so the names it has seen say
   * the same, and a first scan of a huge directory does not pay 8 bytes a name twice.
   */
  readonly written = new SeenNames();
  readonly #recordWrites: boolean;

  constructor(recordWrites: boolean) {
    this.#recordWrites = recordWrites;
  }

  /** Adds what one committed part counted: its diff, and the files it was found to delete. */
  add(diff: DirDiff, unchanged: number, deleted: number): void {
    this.dirs += diff.dirs;
    this.files += diff.files;
    this.mediaFiles += diff.mediaFiles;
    this.bytes += diff.bytes;
    this.skipped += diff.skipped;
    this.unchanged += unchanged;
    this.created += diff.newFiles;
    this.updated += diff.changedFiles;
    this.deleted += deleted;
    if (!this.#recordWrites) return;
    for (const w of diff.writes) if (!w.isDir) this.written.add(w.name);
  }

  /** Takes this listing's counts back from the scan's (all of them in a dry run). */
  takeBack(c: ScanCounters, dryRun: boolean): void {
    c.dirs -= this.dirs;
    c.files -= this.files;
    c.mediaFiles -= this.mediaFiles;
    c.bytes -= this.bytes;
    c.skipped -= this.skipped;
    c.unchanged -= this.unchanged;
    if (!dryRun) return;
    c.created -= this.created;
    c.updated -= this.updated;
    c.deleted -= this.deleted;
  }
}

/**
 * Of a relisting's part, the files it found unchanged that an abandoned listing of the same
 * directory wrote (`written`, sealed): counted `created` or `updated` already, so not
 * `unchanged` as well. (A hash collision could make one more look written: off by one in
 * `unchanged`, with a chance below one in a million for a 5,000,000-entry directory.)
 */
export function writtenBefore(
  diff: DirDiff,
  listed: readonly Entry[],
  written: readonly SeenNames[],
): number {
  if (written.length === 0 || diff.unchangedFiles === 0) return 0;
  const writes = new Set<string>();
  for (const w of diff.writes) writes.add(w.path);
  let n = 0;
  for (const e of listed) {
    if (e.isDir || e.skip || writes.has(e.path)) continue;
    if (written.some((s) => s.has(e.name))) n++;
  }
  return n;
}
