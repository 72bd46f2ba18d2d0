import { readFileSync } from 'node:fs';

/** An account's home folder by login name, or undefined when there is no such account. */
export type HomeLookup = (user: string) => string | undefined;

/**
 * The home folder of `user` as the shell finds it for `~user`: from the passwd database.
 * `os.userInfo()` knows only the current account, so /etc/passwd is read first (no process
 * spawned for the common case), then `getent passwd`, which also asks NSS (LDAP, sssd,
 * systemd-homed). A missing `getent` or one that says nothing is "no such account".
 */
export function passwdHome(
  user: string,
  file = '/etc/passwd',
  getent: (user: string) => string | undefined = getentPasswd,
): string | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No readable /etc/passwd (a container without one): NSS may still know the account.
  }
  return homeIn(text, user) ?? homeIn(getent(user) ?? '', user);
}

/** Field 6 (the home folder) of `user`'s line in passwd-format text. */
export function homeIn(text: string, user: string): string | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 7 && fields[0] === user && fields[5]) return fields[5];
  }
  return undefined;
}

function getentPasswd(user: string): string | undefined {
  try {
    // `--` and a checked name (see home.ts): nothing here is read as an option. Node's
    // child_process is fetched here, not imported: every command loads this file, and the
    // module (with `net` and `dgram` under it) costs ~2 ms of each start (bench:startup).
    const { execFileSync } = process.getBuiltinModule('node:child_process');
    return execFileSync('getent', ['passwd', '--', user], {
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}
