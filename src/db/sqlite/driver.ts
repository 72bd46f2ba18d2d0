import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

let addon: string | object | undefined;

/**
 * better-sqlite3's native addon, found once. Given to every open as `nativeBinding` because
 * the CLI's bundle carries better-sqlite3's JavaScript inside it (scripts/bundle.js: its 13
 * files from node_modules cost ~5 ms of every start, resolved and compiled one by one), and
 * from inside the bundle the package's own lookup (`bindings`, which searches from the
 * calling file's package) would search trawl instead of better-sqlite3. Where npm or
 * prebuild-install puts it, else wherever `bindings` finds it in better-sqlite3's folder.
 */
function nativeBinding(): string | object {
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require.resolve('better-sqlite3/build/Release/better_sqlite3.node');
  } catch {
    const root = dirname(require.resolve('better-sqlite3/package.json'));
    const bindings = createRequire(`${root}/`)('bindings') as (o: object) => object;
    addon = bindings({ bindings: 'better_sqlite3.node', module_root: root });
  }
  return addon;
}

/** `new BetterSqlite3(file, options)`, with the native addon found as above. */
export function openSqliteFile(
  file: string,
  options: BetterSqlite3.Options = {},
): BetterSqlite3.Database {
  // An addon object is taken too (lib/database.js); the package's types name the path alone.
  return new BetterSqlite3(file, { ...options, nativeBinding: nativeBinding() as string });
}
