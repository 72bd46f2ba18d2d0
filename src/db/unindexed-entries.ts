/**
 * The index as seen by a scan of a storage it holds no row of (a dry run of a place never
 * scanned: its storage lives only in the process, `App.storageForDryRun`). Every read is
 * answered "nothing" without asking the database: such a dry run read the children of each
 * of its directories one statement at a time, to find none (10,100 statements, ~6 % of a
 * 200,000-file dry run's main thread; docs/benchmarks.md, "Seventh round: the dry run").
 * Writes, and anything else, go to the index itself.
 */
import type {
  ApplyResult,
  EntryRepository,
  EntryScope,
  EntryWrite,
  IndexedEntry,
  Removal,
} from './entries.js';

export class UnindexedEntries implements EntryRepository {
  readonly #index: EntryRepository;

  constructor(index: EntryRepository) {
    this.#index = index;
  }

  get batchEntries(): number {
    return this.#index.batchEntries;
  }

  get appliesInOrder(): boolean | undefined {
    return this.#index.appliesInOrder;
  }

  async childrenOf(): Promise<Map<string, IndexedEntry[]>> {
    return new Map();
  }

  async lookup(): Promise<Map<string, IndexedEntry>> {
    return new Map();
  }

  async countSubtree(): Promise<{ files: number; dirs: number }> {
    return { files: 0, dirs: 0 };
  }

  // Nothing to yield: the index holds no row of this storage.
  async *list(): AsyncIterable<IndexedEntry> {}

  apply(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
  ): Promise<ApplyResult> {
    return this.#index.apply(scope, removals, writes);
  }

  afterScan(created: number, signal?: AbortSignal): Promise<void> {
    return this.#index.afterScan?.(created, signal) ?? Promise.resolve();
  }
}
