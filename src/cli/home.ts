import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './errors.js';
import { passwdHome, type HomeLookup } from './passwd.js';

/** A login name as `useradd` accepts it (and `$` for Samba machine accounts). */
const LOGIN = /^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/;

/**
 * `~`, `~/…`, `~user` and `~user/…` as the shell expands them, for paths that reach trawl
 * unexpanded: quoted on the command line (`trawl scan '~/Music'`, `'~root/Music'`), or set
 * in a variable (`TRAWL_DATABASE_URL=~/i.db` in a unit file). `~` is `$HOME` first, as the
 * shell does, then the account's home; `~user` is that account's home in the passwd
 * database. An account that does not exist is a {@link UsageError}: the shell would keep
 * `~bob/Music` as typed, and trawl would then answer "no such folder: ~bob/Music", which
 * hides the typo in the name. Anything else (a URL, `./~`, `~+`) is returned as given.
 */
export function expandHome(
  path: string,
  env: NodeJS.ProcessEnv,
  lookup: HomeLookup = passwdHome,
): string {
  if (!path.startsWith('~')) return path;
  const slash = path.indexOf('/');
  const user = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  if (user === '') {
    const home = env.HOME || homedir();
    return rest === '' ? home : join(home, rest);
  }
  if (!LOGIN.test(user)) return path;
  const home = lookup(user);
  if (home === undefined) {
    throw new UsageError(
      `no such user: ${user} (in ${path}); write ./${path} for a folder named so`,
    );
  }
  return rest === '' ? home : join(home, rest);
}
