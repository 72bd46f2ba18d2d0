import type { App } from '../app.js';
import { couldBeName } from '../catalog/names.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import type { StorageSpec } from '../storage/url.js';
import { expandHome } from './home.js';

/** What a command's `<path|url|name>` argument named. */
export type Target =
  | { kind: 'stored'; record: StorageRecord; spec?: undefined }
  | { kind: 'place'; spec: StorageSpec; record?: undefined };

/**
 * Reads a command's storage argument. A URL (`scheme://…`) is a URL; a bare word that names
 * one of the tenant's storages is that storage — even when a folder of that name is in the
 * working directory (write `./word` for the folder); anything else is a local path.
 * `place` turns the text into a spec (and checks a local folder exists) only when needed.
 */
export async function resolveTarget(
  app: App,
  input: string,
  place: (input: string) => StorageSpec,
): Promise<Target> {
  if (couldBeName(input)) {
    const record = await app.catalog.findByName(app.tenantId, input);
    if (record) return { kind: 'stored', record };
  }
  // A quoted `~/Music` reaches trawl unexpanded: expand it as the shell would have.
  return { kind: 'place', spec: place(expandHome(input, process.env)) };
}
