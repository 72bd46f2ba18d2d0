import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { loadAddon } from '../../util/load-addon.js';

let addon: string | object | undefined;

const ADDON = 'better-sqlite3/build/Release/better_sqlite3.node';

/**
 * better-sqlite3's native addon, found once. Given to every open as `nativeBinding` because
 * the CLI's bundle carries better-sqlite3's JavaScript inside it (scripts/bundle.js: its 13
 * files from node_modules cost ~5 ms of every start, resolved and compiled one by one), and
 * from inside the bundle the package's own lookup (`bindings`, which searches from the
 * calling file's package) would search trawl instead of better-sqlite3. Where npm or
 * prebuild-install puts it, else wherever `bindings` finds it in better-sqlite3's folder.
 */
export function nativeBinding(): string | object {
  if (addon !== undefined) return addon;
  addon = nearestAddon(dirname(fileURLToPath(import.meta.url)));
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require.resolve(ADDON);
  } catch {
    const root = dirname(require.resolve('better-sqlite3/package.json'));
    const bindings = createRequire(`${root}/`)('bindings') as (o: object) => object;
    addon = bindings({ bindings: 'better_sqlite3.node', module_root: root });
  }
  return addon;
}

/**
 * The addon in the nearest `node_modules` folder at or above `dir`, where Node's resolution
 * looks first and npm puts it: a failed `stat` per folder up. Node's own `require.resolve`
 * finds the same file, but its first call loads `node:module` (and with it Node's ES module
 * loader) and reads package.json files: ~1 ms of every start (bench:startup).
 */
export function nearestAddon(dir: string): string | undefined {
  for (;;) {
    const path = join(dir, 'node_modules', ADDON);
    if (existsSync(path)) return path;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

let loaded: object | undefined;

/**
 * The addon, loaded once, by loadAddon (not require(): see there). An addon `bindings` found
 * is loaded already.
 */
function addonObject(): object {
  if (loaded !== undefined) return loaded;
  const found = nativeBinding();
  return (loaded = typeof found === 'string' ? loadAddon(found) : found);
}

/** `new BetterSqlite3(file, options)`, with the native addon found and loaded as above. */
export function openSqliteFile(
  file: string,
  options: BetterSqlite3.Options = {},
): BetterSqlite3.Database {
  // An addon object is taken (lib/database.js); the package's types name the path alone.
  return new BetterSqlite3(file, { ...options, nativeBinding: addonObject() as unknown as string });
}
