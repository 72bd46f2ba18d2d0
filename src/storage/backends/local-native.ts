/**
 * The optional native directory listing (native/listing.c, built by `npm ci` through
 * scripts/build-native.js into build/Release/): found and loaded once per process, and its
 * path handed to the listing threads, which load it themselves (a thread cannot share a
 * module). Absent or unloadable (no compiler at install, another Node ABI), the threads list
 * with `readdirSync` + `lstatSync` as before: the two answer alike (test/local.native.test.ts).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../../util/load-addon.js';
import type { ListReply } from './local-worker.js';

/** What the addon exports: a batch of directories listed into one packed reply. */
export interface NativeListing {
  listDirs(
    dirs: string[],
    root: string,
    follow: boolean,
    largeDirBytes: number,
  ): Omit<ListReply, 'id' | 'more'>;
}

const NATIVE_FILE = 'build/Release/trawl_listing.node';

let found: { path: string; listing: NativeListing } | null | undefined;

/**
 * The addon, or undefined when it is not built or does not load. Looked for above this
 * module, which is src/storage/backends/ (tests), dist/storage/backends/ (tsc) or
 * dist/bundle/ (scripts/bundle.js): the package root is 2 or 3 levels up.
 */
export function nativeListing(): { path: string; listing: NativeListing } | undefined {
  // The process-wide switch (as the backend's own env option): test runs on the JS path.
  if (process.env.TRAWL_LOCAL_NATIVE === '0') return undefined;
  return builtNativeListing();
}

/** The addon whatever TRAWL_LOCAL_NATIVE says (tests compare the two listings). */
export function builtNativeListing(): { path: string; listing: NativeListing } | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    const path = join(dir, NATIVE_FILE);
    if (!existsSync(path)) continue;
    try {
      const listing = loadAddon<NativeListing>(path);
      if (typeof listing.listDirs === 'function') found = { path, listing };
    } catch {
      // Built for another Node (ABI) or platform: the JS listing serves.
    }
    break;
  }
  return found ?? undefined;
}
