/**
 * An index the user may read but not write: the commands that only read (`ls`, `scans`,
 * `find`, `du`, `storages ls`) work on it and print what its owner sees, nothing is created
 * beside it (no -wal, no -shm), and a command that writes says so in one line. SQLite by file
 * permissions, as a real process run as an unprivileged user (root may write anything);
 * PostgreSQL by a role that may only SELECT.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/context.js';
import { subcommandsOf } from '../src/cli/help/commands.js';
import { createProgram } from '../src/cli/program.js';
import { runCli } from './support/cli-capture.js';
import {
  createDatabase,
  PG_ADMIN_URL,
  skipDialect,
  withPg,
  type TestDatabase,
} from './support/databases.js';
import { tempDir } from './support/harness.js';

const REPO = resolve(import.meta.dirname, '..');
const BIN = join(REPO, 'bin', 'trawl.js');
const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The reader runs trawl from this checkout, so it must be able to pass through every folder
 * above it: a checkout in a `mktemp -d` folder (mode 0700, as CI makes) is closed to it. Only
 * the search bit for others is added, to folders that lack it; nothing becomes listable.
 */
function allowTraversal(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    if (dirname(d) === d) return;
  }
}

/** `trawl args` as a process; `reader` runs it as a user other than the index's owner. */
function trawl(args: string[], home: string, reader = false, env: NodeJS.ProcessEnv = {}): Run {
  const [command, argv] =
    reader && AS_ROOT
      ? [
          '/usr/bin/setpriv',
          [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BIN],
        ]
      : [process.execPath, [BIN]];
  const r = spawnSync(command, [...argv, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 1 and exactly one line on stderr matching `pattern`. */
function refused(r: Run, pattern: RegExp): void {
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(1);
}

const quiet: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };
const commands = new Set(subcommandsOf(await createProgram(quiet, () => {})).map((c) => c.name()));

/** The reads under test: `find` and `du` too, once registered. */
const READS = (root: string) =>
  [
    ['ls', root],
    ['ls', root, '/a', '--json'],
    ['scans', '--json'],
    ['find', root, '--json'],
    ['du', root],
    ['storages', 'ls'],
  ].filter(([command]) => commands.has(command!));

describe('a SQLite index this user may only read', () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string;
  let folder: string;
  let db: string;
  let owner: Map<string, Run>;

  beforeAll(() => {
    if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
    if (AS_ROOT && !existsSync('/usr/bin/setpriv')) {
      throw new Error('running as root needs setpriv (util-linux) to read as another user');
    }
    if (AS_ROOT) allowTraversal(REPO);
  });
  afterEach(() => {
    if (folder && existsSync(folder)) chmodSync(folder, 0o755);
    tmp?.cleanup();
  });

  /** An index of a small tree, what its owner's reads print, then the modes under test. */
  async function setUp(fileMode: number, folderMode: number): Promise<void> {
    tmp = tempDir('trawl-ro-');
    chmodSync(tmp.path, 0o755); // the reader must reach what is inside
    root = join(tmp.path, 'data');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'song.flac'), 'abc');
    writeFileSync(join(root, 'b.txt'), '1');
    folder = join(tmp.path, 'index');
    mkdirSync(folder);
    db = join(folder, 'index.db');
    const scan = trawl(['scan', root, '--db', db], tmp.path);
    expect(scan.code, scan.stderr).toBe(0);
    // In process (faster than a process each): the same code, as the owner.
    owner = new Map();
    for (const args of READS(root)) {
      owner.set(args.join(' '), await runCli([...args, '--db', db], { HOME: tmp.path }));
    }
    chmodSync(db, fileMode);
    chmodSync(folder, folderMode);
  }

  it.each([
    ['a read-only file in a folder anyone may write', 0o444, 0o777],
    ['a read-only file in a read-only folder', 0o444, 0o555],
  ])('%s: reads work and print what the owner sees; nothing is made', async (_, file, dir) => {
    await setUp(file, dir);
    const before = readdirSync(folder).sort();
    for (const args of READS(root)) {
      const r = trawl([...args, '--db', db], tmp.path, true);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(owner.get(args.join(' '))!.stdout);
      expect(r.stdout).not.toBe('');
    }
    // A dry run writes nothing either.
    const dry = trawl(['scan', root, '--db', db, '--dry-run', '--json'], tmp.path, true);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: 'succeeded', unchanged: 2 });
    expect(readdirSync(folder).sort()).toEqual(before);
  });

  it('a scan or a change is refused in one line that says what to do', async () => {
    await setUp(0o444, 0o555);
    refused(
      trawl(['scan', root, '--db', db], tmp.path, true),
      new RegExp(
        `^trawl: cannot open index database ${db}: attempt to write a readonly database; ` +
          'trawl needs write access to the index; name another with --db <file> or TRAWL_DATABASE_URL\n$',
      ),
    );
    refused(
      trawl(['storages', 'add', join(root, 'a'), '--db', db], tmp.path, true),
      /^trawl: the index cannot be written \(attempt to write a readonly database\); trawl needs write access/,
    );
    refused(
      trawl(['storages', 'rm', 'data', '--yes', '--db', db], tmp.path, true),
      /^trawl: the index cannot be written/,
    );
    // The owner's index is as it was.
    expect((await runCli(['ls', root, '--db', db])).stdout).toBe(owner.get(`ls ${root}`)!.stdout);
  });

  it('secrets rotate on a read-only index or key folder: one line of advice, no key added', () => {
    tmp = tempDir('trawl-ro-');
    chmodSync(tmp.path, 0o755);
    folder = join(tmp.path, 'index');
    mkdirSync(folder);
    db = join(folder, 'index.db');
    const keys = join(tmp.path, 'keys');
    const keyFile = join(keys, 'secret.key');
    const env = { TRAWL_SECRET_KEY_FILE: keyFile };
    const add = trawl(
      ['storages', 'add', 'webdav://u:pw@127.0.0.1:1/dav', '--name', 'dav', '--db', db],
      tmp.path,
      false,
      env,
    );
    expect(add.code, add.stderr).toBe(0);
    // The reader owns both now, as a user who made the index read-only (or a read-only mount).
    if (AS_ROOT) {
      for (const p of [folder, db, keys, keyFile]) chownSync(p, NOBODY, NOBODY);
    }
    const key = readFileSync(keyFile, 'utf8');
    chmodSync(db, 0o444);
    refused(
      trawl(['secrets', 'rotate', '--db', db], tmp.path, true, env),
      /^trawl: the index cannot be written \(attempt to write a readonly database\); trawl needs write access to the index; name another with --db <file> or TRAWL_DATABASE_URL\n$/,
    );
    expect(readFileSync(keyFile, 'utf8')).toBe(key);

    // The index writable, the key file's folder not: the new key cannot be written beside it.
    chmodSync(db, 0o644);
    chmodSync(keys, 0o555);
    try {
      refused(
        trawl(['secrets', 'rotate', '--db', db], tmp.path, true, env),
        new RegExp(
          `^trawl: cannot write the key file ${keyFile} \\(EACCES: permission denied.*\\): a rotation writes a new key file beside it, so its folder ${keys} must be writable; run it as the key file's owner, or keep the keys in TRAWL_SECRET_KEY \\(docs/secrets\\.md\\)\n$`,
        ),
      );
      expect(readFileSync(keyFile, 'utf8')).toBe(key);
      expect(readdirSync(keys)).toEqual(['secret.key']);
    } finally {
      chmodSync(keys, 0o755);
    }
    // And with write access, it rotates.
    const ok = trawl(['secrets', 'rotate', '--json', '--db', db], tmp.path, true, env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ storages: 1, secrets: 1 });
  });

  it('reads it while its owner has it open (a -wal file): the owner’s commits are seen', async () => {
    await setUp(0o644, 0o755);
    const writer = new BetterSqlite3(db);
    try {
      // A transaction committed to the WAL, not yet in the main file.
      writer.exec(`UPDATE entries SET size = 7 WHERE path = '/b.txt'`);
      expect(existsSync(`${db}-wal`)).toBe(true);
      const r = trawl(['ls', root, '--db', db, '--json'], tmp.path, true);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('"path":"/b.txt","type":"file","size":7');
    } finally {
      writer.close();
    }
  });

  it('an unwritable home: says where the index wanted to go and how to choose another', () => {
    tmp = tempDir('trawl-ro-');
    chmodSync(tmp.path, 0o755);
    const home = join(tmp.path, 'home');
    mkdirSync(home, { mode: 0o555 });
    folder = home;
    root = join(tmp.path, 'data');
    mkdirSync(root);
    refused(
      trawl(['scan', root], home, true),
      new RegExp(
        `^trawl: cannot open index database ${home}/\\.local/share/trawl/index\\.db: EACCES: permission denied.*` +
          'name another with --db <file> or TRAWL_DATABASE_URL\n$',
      ),
    );
  });
});

describe('a PostgreSQL index through a role that may only read', () => {
  let db: TestDatabase | undefined;
  const role = `trawl_reader_${process.pid}`;
  afterEach(async () => {
    if (!db) return;
    await db.drop();
    db = undefined;
    // Roles belong to the server, not to the dropped database: dropped through the admin's.
    await withPg(PG_ADMIN_URL, (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
  });

  it('reads work; a scan is refused in one line', async (ctx) => {
    if (await skipDialect('postgres')) return ctx.skip();
    db = await createDatabase('postgres');
    const tmp = tempDir('trawl-ro-pg-');
    try {
      const root = join(tmp.path, 'data');
      mkdirSync(join(root, 'a'), { recursive: true });
      writeFileSync(join(root, 'a', 'song.flac'), 'abc');
      expect((await runCli(['scan', root, '--db', db.url])).code).toBe(0);
      const name = new URL(db.url).pathname.slice(1);
      await withPg(db.url, async (c) => {
        await c.query(`DROP ROLE IF EXISTS ${role}`);
        await c.query(`CREATE ROLE ${role} LOGIN`);
        await c.query(`GRANT CONNECT ON DATABASE ${name} TO ${role}`);
        await c.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
        await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      });
      const reader = new URL(db.url);
      reader.username = role;
      reader.password = '';
      for (const args of READS(root)) {
        const owner = await runCli([...args, '--db', db.url]);
        const r = await runCli([...args, '--db', reader.href]);
        expect(r.stderr, args.join(' ')).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(owner.stdout);
      }
      const scan = await runCli(['scan', root, '--db', reader.href]);
      expect(scan.code).toBe(1);
      expect(scan.stderr).toMatch(
        /^trawl: the index cannot be written \(permission denied for table \w+\); trawl needs write access/,
      );
      expect(scan.stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      tmp.cleanup();
    }
  });
});
