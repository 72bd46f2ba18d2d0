/**
 * What the reconciler tests share (reconcile.pipeline, reconcile.handon): entries, listing
 * parts, a gate to hold writes on, a repository that records its children reads, and the
 * index's paths afterwards.
 */
import type { EntryRepository, EntryScope } from '../../src/db/entries.js';
import type { Index } from '../../src/db/open.js';
import { Reconciler } from '../../src/scan/reconciler.js';
import type { ListingPart, PartKind } from '../../src/scan/parts.js';
import type { ScanCounters } from '../../src/scan/result.js';
import { baseName } from '../../src/storage/paths.js';
import type { Entry } from '../../src/storage/types.js';

export const file = (path: string, size = 1): Entry => ({
  path,
  name: baseName(path),
  isDir: false,
  size,
  mtime: 1000,
});

export const dir = (path: string): Entry => ({
  path,
  name: baseName(path),
  isDir: true,
  size: 0,
  mtime: 0,
});

export function part(d: string, entries: Entry[], kind: PartKind = 'whole'): ListingPart {
  return { dir: d, entries, kind, bytes: 0 };
}

/** A gate writes wait on until it is opened. */
export interface Gate {
  open(): void;
  wait: Promise<void>;
}

export function closedGate(): Gate {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { open, wait };
}

/**
 * `real`, each children read's directories handed to `onRead` (in call order); a test
 * replaces `apply` to hold or fail writes.
 */
export function recordingReads(
  real: EntryRepository,
  onRead: (dirs: string[]) => void,
): EntryRepository {
  return {
    batchEntries: real.batchEntries,
    childrenOf: (s, d) => {
      onRead([...d]);
      return real.childrenOf(s, d);
    },
    lookup: (s, p) => real.lookup(s, p),
    countSubtree: (s, d) => real.countSubtree(s, d),
    list: (s, d, o) => real.list(s, d, o),
    apply: (s, removals, writes) => real.apply(s, removals, writes),
  };
}

/** A reconciler writing through `entries`, with the scan's defaults. */
export function reconcilerOver(
  entries: EntryRepository,
  scope: EntryScope,
  counters: ScanCounters,
): Reconciler {
  return new Reconciler({
    entries,
    scope,
    counters,
    batchEntries: 1000,
    dryRun: false,
    recordError: () => undefined,
  });
}

/** Every path the index holds for `scope`, sorted. */
export async function indexedPaths(index: Index, scope: EntryScope): Promise<string[]> {
  const all: string[] = [];
  for await (const e of index.entries.list(scope, '/', { recursive: true })) all.push(e.path);
  return all.sort();
}
