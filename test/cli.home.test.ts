/**
 * A quoted `'~/Music'` (or `~` in a variable) reaches trawl unexpanded: trawl expands it as
 * the shell would have, instead of "no such folder: ~/Music".
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/errors.js';
import { expandHome } from '../src/cli/home.js';
import { homeIn, passwdHome } from '../src/cli/passwd.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';

describe(expandHome.name, () => {
  const env = { HOME: '/home/ann' };
  const accounts: Record<string, string> = { bob: '/srv/bob', 'svc-media$': '/var/media' };
  const lookup = (user: string) => accounts[user];
  it.each([
    ['~', '/home/ann'],
    ['~/', '/home/ann'],
    ['~/Music', '/home/ann/Music'],
    ['~/a/../b', '/home/ann/b'],
    ['~bob', '/srv/bob'],
    ['~bob/', '/srv/bob'],
    ['~bob/Music', '/srv/bob/Music'],
    ['~svc-media$/x', '/var/media/x'],
    // Not the shell's `~` forms: kept as typed.
    ['~+/Music', '~+/Music'],
    ['./~/Music', './~/Music'],
    ['./~nobody/Music', './~nobody/Music'],
    ['/srv/~', '/srv/~'],
    ['webdav://nas/~/dav', 'webdav://nas/~/dav'],
    ['', ''],
  ])('%s → %s', (input, expected) => {
    expect(expandHome(input, env, lookup)).toBe(expected);
  });

  it('refuses an account that does not exist, naming it', () => {
    expect(() => expandHome('~nobody/Music', env, lookup)).toThrow(UsageError);
    expect(() => expandHome('~nobody/Music', env, lookup)).toThrow(
      'no such user: nobody (in ~nobody/Music); write ./~nobody/Music for a folder named so',
    );
  });

  it("reads another account's home from the passwd database", () => {
    // root is in every /etc/passwd; os.userInfo() would know only the current account.
    expect(expandHome('~root/Music', env)).toBe('/root/Music');
    const file = '/nonexistent/passwd';
    expect(passwdHome('carol', file, () => 'carol:x:1001:1001::/home/carol:/bin/sh\n')).toBe(
      '/home/carol',
    );
    expect(passwdHome('dave', file, () => undefined)).toBeUndefined();
    expect(homeIn('ann:x:1:1::/home/ann:/bin/sh\nannie:x:2:2::/home/annie:/bin/sh', 'annie')).toBe(
      '/home/annie',
    );
  });
});

describe('trawl with a quoted ~', () => {
  let home: ReturnType<typeof tempDir>;
  let saved: string | undefined;
  beforeEach(() => {
    home = tempDir('trawl-home-');
    mkdirSync(join(home.path, 'Music', 'albums'), { recursive: true });
    writeFileSync(join(home.path, 'Music', 'albums', 'a.flac'), 'abc');
    // The CLI in this process reads HOME from its io env and from the process.
    saved = process.env.HOME;
    process.env.HOME = home.path;
  });
  afterEach(() => {
    process.env.HOME = saved;
    home.cleanup();
  });

  it('scans, lists and registers ~/Music, and finds the index at ~/…', async () => {
    const env = { HOME: home.path };
    const scan = await runCli(['scan', '~/Music', '--db', '~/index.db', '--json'], env);
    expect(scan.stderr).toBe('');
    expect(JSON.parse(scan.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(existsSync(join(home.path, 'index.db'))).toBe(true);
    // The same storage as the unquoted, shell-expanded path.
    const again = await runCli(
      ['scan', join(home.path, 'Music'), '--db', '~/index.db', '--json'],
      env,
    );
    expect(JSON.parse(again.stdout)).toMatchObject({ storageId: 1, unchanged: 1 });
    const ls = await runCli(['ls', '~/Music', '/albums', '--db', '~/index.db', '--json'], env);
    expect(ls.stderr).toBe('');
    expect(JSON.parse(ls.stdout)).toMatchObject({ path: '/albums/a.flac', size: 3 });

    // From the environment, as a unit file or a crontab would set it.
    const viaEnv = await runCli(['scans', '--json'], { ...env, TRAWL_DATABASE_URL: '~/index.db' });
    expect(viaEnv.stdout.trim().split('\n')).toHaveLength(2);
    expect(existsSync(join(process.cwd(), '~'))).toBe(false);
  });

  it('says in one line which user of a ~user path is unknown, for a storage and an index', async () => {
    const r = await runCli(['scan', '~no-such-user-x/Music', '--db', join(home.path, 'i.db')], {
      HOME: home.path,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'trawl: no such user: no-such-user-x (in ~no-such-user-x/Music); write ./~no-such-user-x/Music for a folder named so\n',
    );
    const db = await runCli(['scans', '--db', '~no-such-user-x/i.db'], { HOME: home.path });
    expect(db.code).toBe(1);
    expect(db.stderr).toMatch(/^trawl: no such user: no-such-user-x \(in ~no-such-user-x\/i\.db\)/);
    expect(db.stderr.split('\n')).toHaveLength(2);
  });

  it('still says so when the folder is not there', async () => {
    const r = await runCli(['scan', '~/Films', '--db', join(home.path, 'i.db')], {
      HOME: home.path,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('trawl: no such folder: ~/Films\n');
  });
});
