import type { App } from '../app.js';
import { containingStorage } from '../catalog/containing.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import { normalizePath, ROOT } from '../storage/paths.js';
import { parseStorageSpec } from '../storage/url.js';
import { UsageError } from './errors.js';
import { resolveTarget } from './resolve.js';

/** Where a read command (`ls`, `find`, `du`) looks: a storage, and a directory in it. */
export interface IndexedPlace {
  storage: StorageRecord;
  /** In contract form: `/` or `/a/b`. */
  dir: string;
}

/**
 * Reads `<storage> [dir]` of a command that reads the index. The storage is a name, or the
 * place (path or URL) of a registered storage — or a place inside one: `trawl ls
 * ~/Music/Artist` after a scan of `~/Music` is `/Artist` of that storage. `dir` is then
 * taken inside that place.
 */
export async function indexedPlace(app: App, input: string, dir = ROOT): Promise<IndexedPlace> {
  const inside = pathOf(dir);
  const target = await resolveTarget(app, input, (text) => parseStorageSpec(text));
  if (target.kind === 'stored') return { storage: target.record, dir: inside };
  const exact = await app.findStorage(target.spec);
  if (exact) return { storage: exact, dir: inside };
  const holder = containingStorage(await app.catalog.list(app.tenantId), target.spec);
  if (!holder) throw new UsageError(`nothing indexed for ${input} (run: trawl scan ${input})`);
  return {
    storage: holder.record,
    dir: inside === ROOT ? holder.path : pathOf(`${holder.path}${inside}`),
  };
}

/** A user-given path inside a storage, in contract form; `..` is refused. */
export function pathOf(text: string): string {
  try {
    return normalizePath(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
