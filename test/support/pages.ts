import type { EntryView, Page } from '../../src/db/queries/index.js';

/**
 * Every page of a paged read, cursor after cursor: the rows, and how many pages before the
 * last came back short of `limit` (a keyset page must be full unless it is the last).
 */
export async function walkPages(
  read: (cursor?: string) => Promise<Page<EntryView>>,
  limit: number,
): Promise<{ items: EntryView[]; short: number }> {
  const items: EntryView[] = [];
  let short = 0;
  let cursor: string | undefined;
  for (let pages = 1; pages < 2000; pages++) {
    const page = await read(cursor);
    items.push(...page.items);
    if (!page.next) return { items, short };
    if (page.items.length < limit) short++;
    cursor = page.next;
  }
  throw new Error('pagination did not end');
}
