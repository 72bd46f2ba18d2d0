/**
 * The unprivileged system user that sshd, vsftpd and Samba serve test fixtures as.
 *
 * Why a real user: these daemons run as root here, and root reads a chmod-000 directory
 * anyway; serving as `trawl-test` makes "permission denied" real. Password logins need a
 * password the daemons can check: sshd runs with `UsePAM no` and checks /etc/shadow, vsftpd
 * goes through Debian's PAM service, Samba keeps its own hash (smbpasswd, per server). The
 * password is random, made once per machine, kept in /var/lib/trawl-test/password (0600, root)
 * and reused, so test files running in parallel agree on it. The user has no home (`/`) and
 * only the servers the tests start, bound to 127.0.0.1, ever accept it.
 */
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runSync, servicesRequired } from './util.js';

export const TEST_USER = 'trawl-test';
const PASSWORD_FILE = '/var/lib/trawl-test/password';

// Idempotent, and serialised with flock: parallel test files may all arrive here at once.
const SCRIPT = `
set -eu
u=${TEST_USER}
id -u "$u" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir / --shell /bin/sh "$u"
[ "$(getent passwd "$u" | cut -d: -f6)" = / ] || usermod -d / "$u"
mkdir -p /var/lib/trawl-test && chmod 700 /var/lib/trawl-test
f=${PASSWORD_FILE}
if [ ! -s "$f" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > "$f")
  echo "$u:$(cat "$f")" | chpasswd
elif [ "$(passwd -S "$u" | cut -d' ' -f2)" != P ]; then
  echo "$u:$(cat "$f")" | chpasswd
fi
`;

let cached: { user: string; password: string } | undefined;

/**
 * Whether the servers can serve as the test user: that takes root (to create the user). Not
 * root skips on a developer machine, and fails when `TRAWL_REQUIRE_SERVICES` is set (CI).
 */
export function testUserAvailable(): boolean {
  if (process.getuid?.() === 0) return true;
  const message = `the sshd, vsftpd and Samba tests create the user ${TEST_USER}: they need root`;
  if (servicesRequired()) throw new Error(`${message} (TRAWL_REQUIRE_SERVICES is set)`);
  console.warn(`skipping: ${message}`);
  return false;
}

/** Creates the user if needed; returns its name and password. Needs root. */
export function ensureTestUser(): { user: string; password: string } {
  if (cached) return cached;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `creating the test user ${TEST_USER} needs root (running as uid ${process.getuid?.()})`,
    );
  }
  runSync('flock', ['/tmp/trawl-test-user.lock', 'sh', '-c', SCRIPT]);
  cached = { user: TEST_USER, password: readFileSync(PASSWORD_FILE, 'utf8').trim() };
  return cached;
}

/**
 * Lets the test user read a fixture tree (its temp parent folder is 0700) and makes the
 * fixture's locked directory unreadable to it, as a server refuses it. Returns the undo.
 */
export function serveFixtureAsTestUser(root: string, lockedDir: string): () => void {
  chmodSync(dirname(root), 0o755);
  chmodSync(root, 0o755);
  const locked = join(root, lockedDir);
  chmodSync(locked, 0o000);
  return () => chmodSync(locked, 0o755);
}
