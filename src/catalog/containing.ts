import type { StorageRecord } from '../db/repositories/storages.js';
import type { StorageSpec } from '../storage/url.js';

/** A registered storage whose tree holds a place, and where in that tree the place is. */
export interface Containing {
  record: StorageRecord;
  /** The place's path inside the storage, in contract form (`/Artist/Album`). */
  path: string;
}

/**
 * The storage among `records` that holds `spec`'s place below its root: same kind, and the
 * place's location is the storage's followed by `/` and more (`/home/me/Music/Artist` in
 * `/home/me/Music`; `sftp://nas:22/data/x` in `sftp://nas:22/data`). The deepest wins when
 * storages nest. A location's query (`s3://b/p?endpoint=…`) must be the same on both.
 * undefined when none holds it, or when the place is a storage's root itself.
 */
export function containingStorage(
  records: readonly StorageRecord[],
  spec: StorageSpec,
): Containing | undefined {
  const place = split(spec.location);
  let best: Containing | undefined;
  let bestLength = -1;
  for (const record of records) {
    if (record.kind !== spec.kind) continue;
    const root = split(record.location);
    if (root.query !== place.query) continue;
    const base = root.path.replace(/\/+$/, '');
    if (!place.path.startsWith(`${base}/`) || place.path.length <= base.length + 1) continue;
    if (base.length <= bestLength) continue;
    const rest = place.path.slice(base.length).replace(/\/+$/, '');
    best = { record, path: spec.kind === 'local' ? rest : decode(rest) };
    bestLength = base.length;
  }
  return best;
}

function split(location: string): { path: string; query: string } {
  // A local path may hold `?`; only URLs have a query.
  const i = /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location.indexOf('?') : -1;
  return i < 0
    ? { path: location, query: '' }
    : { path: location.slice(0, i), query: location.slice(i) };
}

/** URL locations hold their paths percent-encoded (encodeURI); a bad escape stays as is. */
function decode(path: string): string {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}
