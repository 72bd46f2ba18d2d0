import type { Entry } from '../../src/storage/types.js';

/** A listing's pages as one array: for tests that look at a directory whole. */
export async function listAll(pages: AsyncIterable<Entry[]>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const page of pages) for (const e of page) out.push(e);
  return out;
}
