import type { Entry, TreeListing } from '../../src/storage/types.js';

/** A listing's pages as one array: for tests that look at a directory whole. */
export async function listAll(pages: AsyncIterable<Entry[]>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const page of pages) for (const e of page) out.push(e);
  return out;
}

/** A tree listing's pieces one by one, whether a step yielded one or several (an array). */
export async function* treePieces(
  steps: AsyncIterable<TreeListing | TreeListing[]>,
): AsyncGenerator<TreeListing> {
  for await (const step of steps) {
    if (Array.isArray(step)) yield* step;
    else yield step;
  }
}
