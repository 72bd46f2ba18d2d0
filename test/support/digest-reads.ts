import type { ChildrenUnlessSame, EntryRepository } from '../../src/db/entries.js';

/**
 * Calls `seen` with the directories of each of the index's digest reads and its answer (which
 * were trusted, `answer.same`), wrapping `entries` in place. An index without digests
 * (PostgreSQL) is left as it is: `seen` is never called.
 */
export function onDigestRead(
  entries: EntryRepository,
  seen: (dirs: readonly string[], answer: ChildrenUnlessSame) => void,
): void {
  const unlessSame = entries.childrenUnlessSame?.bind(entries);
  if (!unlessSame) return;
  entries.childrenUnlessSame = async (scope, dirs, digests) => {
    const answer = await unlessSame(scope, dirs, digests);
    seen(dirs, answer);
    return answer;
  };
}
