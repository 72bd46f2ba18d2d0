/**
 * Bad input, each as a new user first typed it: one line on stderr that says what is wrong
 * and what trawl takes instead, the documented exit status, nothing on stdout, no stack
 * trace — and nothing made on the way (the `mysql:` folder tree a mistyped --db once left).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliFixture, type CliRun } from './fixtures/cli.js';

let fx: ReturnType<typeof cliFixture>;
afterEach(() => fx?.close());

/** Exit 1, one line on stderr starting `trawl: ` and matching, nothing on stdout. */
function refused(r: CliRun, pattern: RegExp): string {
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^trawl: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected error/);
  expect(r.code).toBe(1);
  return lines[0]!;
}

describe('--db and TRAWL_DATABASE_URL name a database trawl can use', () => {
  it.each([
    ['mysql://root:PASSWORD@localhost/db', /"mysql:" is not a database trawl knows.*postgres:\/\//],
    ['postgress://me@localhost/db', /"postgress:" is not a database trawl knows/],
    ['MySQL://root@localhost/db', /"mysql:" is not a database trawl knows/],
  ])('refuses %s, naming what it takes, and makes nothing', async (db, pattern) => {
    fx = cliFixture();
    fx.tree.writeFile('/a.txt', 1, 1);
    const cwd = readdirSync(process.cwd()).sort();
    for (const args of [
      ['scan', fx.url, '--db', db],
      ['ls', fx.url, '--db', db],
      ['scans', '--db', db],
      ['migrate', '--db', db],
    ]) {
      const line = refused(await fx.run(args), pattern);
      expect(line).toMatch(/SQLite file/);
      expect(line).not.toContain('PASSWORD');
    }
    refused(await fx.run(['scans'], { env: { HOME: fx.dir, TRAWL_DATABASE_URL: db } }), pattern);
    // Before: a folder tree `mysql:/root:PASSWORD@localhost/` beside the user, and exit 0.
    expect(readdirSync(process.cwd()).sort()).toEqual(cwd);
    expect(readdirSync(fx.dir)).toEqual([]);
  });

  it('points a sqlite:// URL at the path itself', async () => {
    fx = cliFixture();
    const file = join(fx.dir, 'x.db');
    refused(
      await fx.run(['scan', fx.url, '--db', `sqlite://${file}`]),
      new RegExp(
        `"sqlite:" is not a database trawl knows; for SQLite give the file's path itself \\(${file}\\)`,
      ),
    );
    expect(existsSync(file)).toBe(false);
    // And without the slashes: not a file named `sqlite:x.db` beside the user.
    const cwd = readdirSync(process.cwd()).sort();
    refused(
      await fx.run(['scans', '--db', 'sqlite:x.db']),
      /"sqlite:" is not a database trawl knows; for SQLite give the file's path itself \(x\.db\)/,
    );
    expect(readdirSync(process.cwd()).sort()).toEqual(cwd);
  });
});

describe('storage URLs say what is missing or wrong', () => {
  it.each([
    ['webdav://', /^trawl: webdav:\/\/ needs a host, as in webdavs:\/\/me@cloud\.example\.com/],
    ['webdavs://', /^trawl: webdavs:\/\/ needs a host/],
    ['webdav://me@/dav', /^trawl: webdav:\/\/ needs a host/],
    ['ftp://', /^trawl: ftp:\/\/ needs a host, as in ftp:\/\/me@nas\.local/],
    ['sftp:///srv', /^trawl: sftp:\/\/ needs a host/],
    ['smb://', /^trawl: smb:\/\/ needs a host/],
    ['s3://', /^trawl: s3:\/\/ needs a bucket, as in s3:\/\/photos/],
    [
      'webdav://[::1/dav',
      /^trawl: not a valid webdav storage URL: webdav:\/\/\[::1\/dav; write it as in/,
    ],
    [
      'gopher://host/x',
      /unsupported storage URL scheme "gopher:"; trawl knows ftp:\/\/, ftps:\/\/, file:\/\/.*webdavs:\/\/.*s3:\/\//,
    ],
  ])('%s', async (url, pattern) => {
    fx = cliFixture();
    const line = refused(await fx.run(['scan', url, '--db', fx.db]), pattern);
    // What the user can run next: every message names trawl --help or the schemes.
    expect(line).toMatch(/trawl --help|trawl knows/);
    expect(line).toMatch(/\(INVALID_CONFIG\)$/);
  });

  it.each([
    ['webdav://127.0.0.1:1/dav?timeoutMS=5', 'webdav'],
    ['ftp://127.0.0.1:1/?timeoutMS=5', 'ftp'],
    ['sftp://me@127.0.0.1:1/srv?timeoutMS=5', 'sftp'],
    ['smb://127.0.0.1:1/share?timeoutMS=5', 'smb'],
    ['s3://bucket/?timeoutMS=5', 's3'],
    ['file:///tmp?timeoutMS=5', 'local'],
  ])('an unknown option in %s is an error naming the known ones', async (url, kind) => {
    fx = cliFixture();
    refused(
      await fx.run(['scan', url, '--db', fx.db]),
      new RegExp(`unknown ${kind} option \`timeoutMS\`; known: .*(timeoutMs|root).*maxConcurrency`),
    );
  });
});

describe('a failed scan says why on stderr', () => {
  it('names the cause and what to do, after the summary, with and without --json', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a.txt', 1, 1).failDir('/', 'AUTH_FAILED');
    const human = await fx.run(['scan', fx.url, '--db', fx.db]);
    expect(human.code).toBe(1);
    expect(human.lines[0]).toMatch(/^scan 1 of memory:.*: failed/);
    expect(human.stderr).toBe(
      'trawl: scan 1 failed: injected AUTH_FAILED listing / (AUTH_FAILED); check the user and ' +
        'password (in the URL, its environment variable, or trawl storages edit)\n',
    );
    const json = await fx.run(['scan', fx.url, '--db', fx.db, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', scanId: 2 });
    expect(json.stderr).toMatch(/^trawl: scan 2 failed: .*\(AUTH_FAILED\); check the user/);
    // A dry run has no scan number.
    const dry = await fx.run(['scan', fx.url, '--db', fx.db, '--dry-run']);
    expect(dry.stderr).toMatch(/^trawl: dry run failed: .*\(AUTH_FAILED\)/);
  });

  it('a dead host: the retries as they happen, then the cause', async () => {
    fx = cliFixture();
    // A port that refuses: bound, then closed.
    const port = await new Promise<number>((resolve) => {
      const server: Server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const r = await fx.run(['scan', `webdav://127.0.0.1:${port}/dav`, '--db', fx.db]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines.slice(0, -1).every((l) => /; retry \d\/\d in /.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(
      /^trawl: scan 1 failed: .*ECONNREFUSED.*\(UNAVAILABLE\); check the host and port, and that the server is up$/,
    );
  });

  it('says nothing more for a partial scan: the summary lists its errors, exit 2', async () => {
    fx = cliFixture();
    fx.tree
      .writeFile('/ok/a.txt', 1, 1)
      .writeFile('/locked/b.txt', 1, 1)
      .failDir('/locked', 'PERMISSION_DENIED');
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
  });
});

describe('an index that cannot be made where it should go', () => {
  it('says where it wanted to go and how to choose another', async () => {
    fx = cliFixture();
    // A file where the folder of the default index should be: no user can make it there.
    const home = join(fx.dir, 'home');
    await import('node:fs').then((fs) => fs.writeFileSync(join(fx.dir, 'not-a-folder'), 'x'));
    const line = refused(
      await fx.run(['scans'], { env: { HOME: home, XDG_DATA_HOME: join(fx.dir, 'not-a-folder') } }),
      /cannot open index database .*not-a-folder\/trawl\/index\.db/,
    );
    expect(line).toMatch(/--db .*TRAWL_DATABASE_URL/);
  });
});
