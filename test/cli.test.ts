import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliFixture, type CliRun } from './fixtures/cli.js';
import { ProgressLine } from '../src/cli/progress.js';

const RESULT_KEYS = [
  'scanId',
  'storageId',
  'status',
  'dirs',
  'files',
  'mediaFiles',
  'bytes',
  'created',
  'updated',
  'deleted',
  'unchanged',
  'skipped',
  'errors',
  'invalidEntries',
  'errorSample',
  // From the StorageService (issue 4): this scan's retries and rate-limit waits.
  'retries',
  'rateLimitWaits',
  'durationMs',
];

/** One JSON object on stdout, nothing on stderr. */
function onlyJson(r: CliRun): Record<string, unknown> {
  expect(r.stderr).toBe('');
  expect(r.lines).toHaveLength(1);
  return JSON.parse(r.lines[0]!) as Record<string, unknown>;
}

/** One line on stderr naming the problem, nothing on stdout, no stack trace. */
function expectOneErrorLine(r: CliRun, pattern: RegExp) {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^trawl: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('trawl scan (in process)', () => {
  let fx: ReturnType<typeof cliFixture>;
  afterEach(() => fx?.close());

  it('prints exactly one JSON object with the documented keys and exact values', async () => {
    fx = cliFixture();
    fx.tree
      .writeFile('/films/a.mkv', 1000, 1_700_000_000_000)
      .writeFile('/films/a.srt', 10, 1)
      .writeFile('/music/b.flac', 500, 2)
      .writeFile('/readme.txt', 7, 3)
      .mkdir('/empty');
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json']);
    expect(r.code).toBe(0);
    const json = onlyJson(r);
    expect(Object.keys(json)).toEqual(RESULT_KEYS);
    expect(json).toEqual({
      scanId: 1,
      storageId: 1,
      status: 'succeeded',
      dirs: 3,
      files: 4,
      mediaFiles: 2,
      bytes: 1517,
      created: 4,
      updated: 0,
      deleted: 0,
      unchanged: 0,
      skipped: 0,
      errors: 0,
      invalidEntries: 0,
      errorSample: [],
      retries: 0,
      rateLimitWaits: 0,
      durationMs: json.durationMs,
    });
    expect(Number.isInteger(json.durationMs) && (json.durationMs as number) >= 0).toBe(true);

    // The same place again: the same storage, a new scan, nothing changed.
    fx.tree.modify('/readme.txt', { size: 8 }).remove('/music');
    const again = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json']));
    expect(again).toMatchObject({
      scanId: 2,
      storageId: 1,
      status: 'succeeded',
      dirs: 2,
      files: 3,
      created: 0,
      updated: 1,
      deleted: 1,
      unchanged: 2,
    });
  });

  it('prints a summary for people without --json', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/x/y.mp3', 2000, 1);
    const r = await fx.run(['scan', fx.url, '--db', fx.db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.lines[0]).toMatch(new RegExp(`^scan 1 of ${fx.url}: succeeded in \\d+ ms$`));
    expect(r.lines[1]).toBe('  1 dirs, 1 files (1 media), 2.0 kB');
    expect(r.lines[2]).toBe('  created 1, updated 0, deleted 0, unchanged 0, skipped 0');
  });

  it('draws a progress line on a terminal only, and clears it before the result', async () => {
    fx = cliFixture();
    for (let i = 0; i < 12; i++) fx.tree.writeFile(`/d${i}/f.jpg`, 1000, 1);
    let stderr = '';
    const tty = { isTTY: true, columns: 200, write: (s: string) => (stderr += s) };
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json'], { stderr: tty });
    expect(r.code).toBe(0);
    expect(r.lines).toHaveLength(1);
    const draws = stderr.split('\r').filter((s) => s !== '');
    // The last drawing is the final state; then the line is wiped.
    expect(draws.at(-1)).toBe('\u001b[K');
    expect(draws.at(-2)).toMatch(
      /^dirs 13 listed \/ 0 queued · files 12 \(12\.0 kB\) · [\d,]+ entries\/s\u001b\[K$/,
    );
  });

  it('shows errors, retries and rate-limit waits on the progress line when there are any', () => {
    let stderr = '';
    const tty = { isTTY: true, columns: 200, write: (s: string) => (stderr += s) };
    const line = new ProgressLine(tty as unknown as NodeJS.WriteStream);
    const zero = {
      dirsListed: 3,
      dirsQueued: 1,
      dirs: 2,
      files: 4,
      bytes: 4000,
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 0,
      skipped: 0,
      errors: 0,
      retries: 0,
      rateLimitWaits: 0,
      elapsedMs: 1000,
    };
    line.update(zero);
    expect(stderr).toBe('\rdirs 3 listed / 1 queued · files 4 (4.0 kB) · 6 entries/s\u001b[K');
    stderr = '';
    line.update({ ...zero, errors: 1, retries: 5, rateLimitWaits: 3 });
    expect(stderr).toBe(
      '\rdirs 3 listed / 1 queued · files 4 (4.0 kB) · 6 entries/s · errors 1 · retries 5 · rate-limited 3×\u001b[K',
    );
  });

  it('exits 2 on a partial scan and lists the errors', async () => {
    fx = cliFixture();
    fx.tree
      .writeFile('/ok/a', 1, 1)
      .writeFile('/locked/b', 1, 1)
      .failDir('/locked', 'PERMISSION_DENIED');
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json']);
    expect(r.code).toBe(2);
    expect(onlyJson(r)).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [
        {
          path: '/locked',
          code: 'PERMISSION_DENIED',
          message: 'injected PERMISSION_DENIED listing /locked',
        },
      ],
    });
    const human = await fx.run(['scan', fx.url, '--db', fx.db]);
    expect(human.code).toBe(2);
    expect(human.lines).toContain('  errors 1:');
    expect(human.lines).toContain(
      '    /locked  PERMISSION_DENIED  injected PERMISSION_DENIED listing /locked',
    );
  });

  it('exits 1 when the root cannot be listed', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a', 1, 1).failDir('/', 'NOT_FOUND');
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json']);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(JSON.parse(r.lines[0]!)).toMatchObject({
      status: 'failed',
      errors: 1,
      errorSample: [{ path: '/', code: 'NOT_FOUND' }],
    });
    // The cause on stderr too, for a person reading only that.
    expect(r.stderr).toBe(
      'trawl: scan 1 failed: injected NOT_FOUND listing / (NOT_FOUND); check the path in the URL\n',
    );
  });

  it('exits 130 when cancelled mid-scan, and a later scan completes the index', async () => {
    fx = cliFixture();
    for (let i = 0; i < 50; i++) fx.tree.writeFile(`/d${i}/f.txt`, i, i);
    const controller = new AbortController();
    fx.tree.beforeList = () => {
      if (fx.tree.stats.lists === 10) controller.abort();
    };
    const r = await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--workers', '2'], {
      signal: controller.signal,
    });
    expect(r.code).toBe(130);
    const json = onlyJson(r);
    expect(json.status).toBe('cancelled');
    fx.tree.beforeList = undefined;
    const done = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json']));
    expect(done).toMatchObject({ status: 'succeeded', files: 50 });
    expect((done.created as number) + (json.created as number)).toBe(50);
    const scans = await fx.run(['scans', '--db', fx.db, '--json']);
    expect(scans.lines.map((l) => (JSON.parse(l) as { status: string }).status)).toEqual([
      'succeeded',
      'cancelled',
    ]);
  });

  it('counts on --dry-run, writes nothing and records no scan or storage', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a/b.jpg', 5, 5).writeFile('/c.txt', 1, 1);
    const dry = await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(onlyJson(dry)).toMatchObject({
      scanId: null,
      storageId: null,
      status: 'succeeded',
      files: 2,
      created: 2,
    });
    expect((await fx.run(['scans', '--db', fx.db, '--json'])).lines).toEqual([]);
    const ls = await fx.run(['ls', fx.url, '--db', fx.db]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/nothing indexed for memory:/);

    await fx.run(['scan', fx.url, '--db', fx.db]);
    fx.tree.remove('/a');
    const dry2 = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--dry-run']));
    expect(dry2).toMatchObject({ scanId: null, storageId: 1, deleted: 1, unchanged: 1 });
    const human = await fx.run(['scan', fx.url, '--db', fx.db, '--dry-run']);
    expect(human.lines[0]).toMatch(/^dry run of memory:\/\/\S+: succeeded/);
    expect(human.lines[2]).toBe(
      '  would be created 0, would be updated 0, would be deleted 1, unchanged 1, skipped 0',
    );
    const ls2 = await fx.run(['ls', fx.url, '--db', fx.db, '-r', '--json']);
    expect(ls2.lines).toHaveLength(3);
  });

  it('honours --depth, --no-recursive and --batch', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a/b/c/d.txt', 1, 1).writeFile('/top.txt', 1, 1);
    const one = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--depth', '1']));
    expect(one).toMatchObject({ dirs: 1, files: 1 });
    expect(fx.tree.stats.lists).toBe(1);
    const nr = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--no-recursive']));
    expect(nr).toMatchObject({ dirs: 1, files: 1, unchanged: 1 });
    const two = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--depth', '2']));
    expect(two).toMatchObject({ dirs: 2, files: 1 });
    const all = onlyJson(
      await fx.run(['scan', fx.url, '--db', fx.db, '--json', '--batch', '1', '--workers', '1']),
    );
    expect(all).toMatchObject({ status: 'succeeded', dirs: 3, files: 2, created: 1, unchanged: 1 });
  });

  it('scans a local folder given as a path', async () => {
    fx = cliFixture();
    const root = join(fx.dir, 'data');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'sub', 'song.mp3'), 'abc');
    writeFileSync(join(root, 'note.txt'), 'hello');
    const r = await fx.run(['scan', root, '--db', fx.db, '--json']);
    expect(r.code).toBe(0);
    expect(onlyJson(r)).toMatchObject({
      status: 'succeeded',
      dirs: 1,
      files: 2,
      mediaFiles: 1,
      bytes: 8,
      created: 2,
    });
    const ls = await fx.run(['ls', root, '--db', fx.db, '-r', '--json']);
    expect(ls.lines.map((l) => (JSON.parse(l) as { path: string }).path)).toEqual([
      '/note.txt',
      '/sub',
      '/sub/song.mp3',
    ]);
  });
});

describe('trawl scan --follow-symlinks (in process)', () => {
  let fx: ReturnType<typeof cliFixture>;
  afterEach(() => fx?.close());

  it('skips and counts symlinks by default, and follows them with the flag', async () => {
    fx = cliFixture();
    const root = join(fx.dir, 'data');
    mkdirSync(join(root, 'real'), { recursive: true });
    writeFileSync(join(root, 'real', 'f.txt'), 'abc');
    symlinkSync(join(root, 'real'), join(root, 'link'));
    const plain = onlyJson(await fx.run(['scan', root, '--db', fx.db, '--json']));
    expect(plain).toMatchObject({ status: 'succeeded', dirs: 1, files: 1, skipped: 1 });
    const followed = onlyJson(
      await fx.run(['scan', root, '--db', fx.db, '--json', '--follow-symlinks']),
    );
    // The same place: the same storage, now with the option on.
    expect(followed).toMatchObject({
      status: 'succeeded',
      storageId: plain.storageId,
      dirs: 2,
      files: 2,
      skipped: 0,
      created: 1,
      unchanged: 1,
    });
  });
});

describe('trawl ls and scans (in process)', () => {
  let fx: ReturnType<typeof cliFixture>;
  afterEach(() => fx?.close());

  it('keeps tenants apart (TRAWL_TENANT)', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a', 1, 1);
    const as = (tenant: string) => ({ env: { HOME: fx.dir, TRAWL_TENANT: tenant } });
    const alice = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json'], as('alice')));
    const bob = onlyJson(await fx.run(['scan', fx.url, '--db', fx.db, '--json'], as('bob')));
    expect(bob.storageId).not.toBe(alice.storageId);
    expect(bob).toMatchObject({ created: 1 });
    const history = await fx.run(['scans', '--db', fx.db, '--json'], as('alice'));
    expect(history.lines.map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([alice.scanId]);
    expect((await fx.run(['scans', '--db', fx.db, '--json'])).lines).toEqual([]);
  });

  it('prints the index as JSON lines: path, type, size, ISO mtime', async () => {
    fx = cliFixture();
    fx.tree
      .writeFile('/b dir/x.mkv', 42, Date.UTC(2026, 10, 27, 1, 2, 3))
      .writeFile('/a.txt', 1, 1500)
      .writeFile('/new\nline', 2, 0)
      .mkdir('/b dir/empty', Date.UTC(2020, 0, 1));
    expect((await fx.run(['scan', fx.url, '--db', fx.db])).code).toBe(0);
    const top = await fx.run(['ls', fx.url, '--db', fx.db, '--json']);
    expect(top.code).toBe(0);
    expect(top.stderr).toBe('');
    expect(top.lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { path: '/a.txt', type: 'file', size: 1, mtime: '1970-01-01T00:00:01.500Z' },
      // 0 is the index's "no time" (an S3 prefix has none): null, not 1970-01-01.
      { path: '/b dir', type: 'dir', size: 0, mtime: null },
      { path: '/new\nline', type: 'file', size: 2, mtime: null },
    ]);
    for (const l of top.lines) {
      expect(Object.keys(JSON.parse(l) as object)).toEqual(['path', 'type', 'size', 'mtime']);
    }
    const inside = await fx.run(['ls', fx.url, '/b dir', '--db', fx.db, '--json']);
    expect(inside.lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { path: '/b dir/empty', type: 'dir', size: 0, mtime: '2020-01-01T00:00:00.000Z' },
      { path: '/b dir/x.mkv', type: 'file', size: 42, mtime: '2026-11-27T01:02:03.000Z' },
    ]);
    const all = await fx.run(['ls', fx.url, '--db', fx.db, '--json', '--recursive']);
    expect(all.lines.map((l) => (JSON.parse(l) as { path: string }).path)).toEqual([
      '/a.txt',
      '/b dir',
      '/b dir/empty',
      '/b dir/x.mkv',
      '/new\nline',
    ]);
    // A file is shown as itself; an empty directory shows nothing; a typo is an error.
    const one = await fx.run(['ls', fx.url, '/b dir/x.mkv', '--db', fx.db, '--json']);
    expect(one.lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { path: '/b dir/x.mkv', type: 'file', size: 42, mtime: '2026-11-27T01:02:03.000Z' },
    ]);
    const empty = await fx.run(['ls', fx.url, '/b dir/empty/', '--db', fx.db]);
    expect(empty).toMatchObject({ code: 0, stdout: 'total: 0 dirs, 0 files, 0 B\n', stderr: '' });
    expectOneErrorLine(
      await fx.run(['ls', fx.url, '/b dir/nope', '--db', fx.db]),
      /nothing indexed at \/b dir\/nope in memory:/,
    );
    // For people: one line per entry, control characters escaped.
    const human = await fx.run(['ls', fx.url, '--db', fx.db]);
    expect(human.lines).toHaveLength(4);
    expect(human.lines[2]).toMatch(/ \/new\\nline$/);
    expect(human.lines[3]).toBe('total: 1 dir, 2 files, 3 B');
  });

  it('prints the scan history newest first', async () => {
    fx = cliFixture();
    fx.tree.writeFile('/a.jpg', 3, 3);
    await fx.run(['scan', fx.url, '--db', fx.db]);
    fx.tree.failDir('/', 'PERMISSION_DENIED');
    await fx.run(['scan', fx.url, '--db', fx.db]);
    const r = await fx.run(['scans', '--db', fx.db, '--json']);
    expect(r.code).toBe(0);
    const rows = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      id: 2,
      storageId: 1,
      status: 'failed',
      errors: 1,
      location: fx.url,
      errorSample: [{ path: '/', code: 'PERMISSION_DENIED' }],
    });
    expect(rows[1]).toMatchObject({
      id: 1,
      status: 'succeeded',
      files: 1,
      created: 1,
      mediaFiles: 1,
      location: fx.url,
    });
    for (const row of rows) {
      expect(new Date(row.startedAt as string).toISOString()).toBe(row.startedAt);
      expect(new Date(row.finishedAt as string).toISOString()).toBe(row.finishedAt);
    }
    const limited = await fx.run(['scans', '--db', fx.db, '--json', '--limit', '1']);
    expect(limited.lines).toHaveLength(1);
    const human = await fx.run(['scans', '--db', fx.db]);
    expect(human.lines).toHaveLength(2);
    expect(human.lines[0]).toMatch(/^\s+2 .* failed /);
  });
});

describe('trawl: bad input', () => {
  let fx: ReturnType<typeof cliFixture>;
  afterEach(() => fx?.close());

  it('rejects a missing path', async () => {
    fx = cliFixture();
    expectOneErrorLine(await fx.run(['scan']), /missing required argument 'storage'/);
    expectOneErrorLine(
      await fx.run(['scan', join(fx.dir, 'no-such-folder'), '--db', fx.db]),
      /no such folder: .*no-such-folder$/,
    );
  });

  it('rejects a file where a folder is expected', async () => {
    fx = cliFixture();
    const file = join(fx.dir, 'plain.txt');
    writeFileSync(file, 'x');
    expectOneErrorLine(await fx.run(['scan', file, '--db', fx.db]), /not a folder: .*plain\.txt$/);
  });

  it('rejects bad flag values, naming the value and what was expected', async () => {
    fx = cliFixture();
    for (const [flag, value] of [
      ['--depth', '0'],
      ['--depth', '-1'],
      ['--depth', '1.5'],
      ['--workers', 'x'],
      ['--workers', '0'],
      ['--batch', ''],
    ] as const) {
      expectOneErrorLine(
        await fx.run(['scan', fx.url, '--db', fx.db, flag, value]),
        new RegExp(`${flag} expects an integer from 1 and up, got "${value.replace('.', '\\.')}"`),
      );
    }
    expectOneErrorLine(await fx.run(['scan', fx.url, '--bogus']), /unknown option '--bogus'/);
    expectOneErrorLine(
      await fx.run(['scan', 'sftp://u@127.0.0.1/x', '--db', fx.db, '--follow-symlinks']),
      /^trawl: --follow-symlinks applies to local folders only$/,
    );
    expectOneErrorLine(
      await fx.run(['scans', '--db', fx.db, '--limit', 'lots']),
      /--limit expects an integer/,
    );
  });

  it('rejects a corrupt or unreadable database file', async () => {
    fx = cliFixture();
    const garbage = join(fx.dir, 'garbage.db');
    writeFileSync(garbage, 'this is not a database, just some words to fill a page. '.repeat(100));
    expectOneErrorLine(
      await fx.run(['scan', fx.url, '--db', garbage]),
      /cannot open index database .*garbage\.db: file is not a database/,
    );
    expectOneErrorLine(
      await fx.run(['ls', fx.url, '--db', garbage]),
      /cannot open index database .*garbage\.db/,
    );
    expectOneErrorLine(
      await fx.run(['scans', '--db', garbage]),
      /cannot open index database .*garbage\.db/,
    );
    // A folder where the database file should be.
    expectOneErrorLine(
      await fx.run(['scan', fx.url, '--db', fx.dir]),
      /cannot open index database/,
    );
  });

  it('rejects a bad environment value, naming the variable', async () => {
    fx = cliFixture();
    const run = (env: Record<string, string>) =>
      fx.run(['scan', fx.url, '--db', fx.db], { env: { HOME: fx.dir, ...env } });
    expectOneErrorLine(
      await run({ TRAWL_LOG_LEVEL: 'loud' }),
      /TRAWL_LOG_LEVEL expects one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    );
    expectOneErrorLine(await run({ TRAWL_DEBUG: 'yes' }), /TRAWL_DEBUG expects one of 0, 1/);
    expectOneErrorLine(await run({ TRAWL_TENANT: ' padded' }), /TRAWL_TENANT expects a name/);
  });

  it('rejects ls of a storage never scanned, a bad URL and a path that climbs out', async () => {
    fx = cliFixture();
    expectOneErrorLine(
      await fx.run(['ls', 'memory://never', '--db', fx.db]),
      /nothing indexed for memory:\/\/never \(run: trawl scan memory:\/\/never\)/,
    );
    expectOneErrorLine(
      await fx.run(['ls', 'gopher://host/x', '--db', fx.db]),
      /unsupported storage URL scheme "gopher:"/,
    );
    expectOneErrorLine(
      await fx.run(['ls', fx.url, '../up', '--db', fx.db]),
      /path must not contain "\.\."/,
    );
  });
});
