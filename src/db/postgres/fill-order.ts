import type { EntryWrite } from '../entries.js';

/**
 * The order a COPY inserts a batch's new rows in, chosen for how full it leaves the two text
 * B-trees (docs/index-database.md, "Migration 010" and "Fill order").
 *
 * In path order, each directory's children are one ascending run of keys inserted into the
 * middle of both indexes (a breadth-first walk writes a directory's children after the keys
 * around them), and PostgreSQL splits a full page that is not the rightmost of its index
 * 50/50: the left half never receives another key, so a first scan leaves the leaves half
 * empty. Inserted in an order unrelated to the key, a run's keys land on both halves of
 * each split, which then fill. Measured on the bench:db tree (300,000 entries, each batch
 * inserted in turn): leaf density of (storage_id, parent, is_dir, name, id) 50 → 68 %,
 * 123 → 91 bytes an entry; (storage_id, path) 51 → 56 %, 99 → 91. Since migration 020 the
 * children index keys no name (a directory's children share one deduplicated key), so the
 * order within a directory is for the unique path index alone.
 *
 * Rows stay grouped by directory, so a directory's children still share their few heap
 * pages (what the rescan's read of them fetches); within a directory they go by a hash of
 * the name. The order is a total order that every writer computes alike, so two scans
 * copying the same new rows take their index locks in the same order, as path order did.
 */
export function fillOrder(writes: readonly EntryWrite[]): EntryWrite[] {
  const keyed = writes.map((w) => ({ w, hash: fnv1a(w.name) }));
  keyed.sort((a, b) => {
    if (a.w.parent !== b.w.parent) return a.w.parent < b.w.parent ? -1 : 1;
    if (a.hash !== b.hash) return a.hash - b.hash;
    return a.w.name < b.w.name ? -1 : a.w.name > b.w.name ? 1 : 0;
  });
  return keyed.map((k) => k.w);
}

/** 32-bit FNV-1a over UTF-16 code units: cheap, and spreads names that share a prefix. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
