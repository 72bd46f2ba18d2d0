import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `~` and `~/…` as the shell expands them, for paths that reach trawl unexpanded: quoted on
 * the command line (`trawl scan '~/Music'`), or set in a variable (`TRAWL_DATABASE_URL=~/i.db`
 * in a unit file). `$HOME` first, as the shell does, then the account's home. `~user/…` is
 * left alone: no shell-free way to look another account up, and a folder may really be
 * named so. Anything else (a URL, `./~`) is returned as given.
 */
export function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  const home = env.HOME || homedir();
  return path === '~' ? home : join(home, path.slice(2));
}
