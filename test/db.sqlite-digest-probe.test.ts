/**
 * SQLite's `childrenUnlessSame` probes a batch's directory rows in one statement (DIGESTS_SQL).
 * Its answer must be the one a probe of each directory alone gives — the statement it
 * replaced, written out here — for every kind of row a directory can have: a digest that
 * matches or not, a token, NULL, no row, a file's row, an orphan (a row whose parent has
 * none), the root, a directory named twice, another storage's or tenant's row at the same
 * path, and paths that JSON escapes (quotes, backslashes, non-ASCII, a lone surrogate).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildrenUnlessSame, EntryScope, EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import type { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { memoryStorage, memoryStorageScope } from './support/databases.js';
import { tempDir } from './support/harness.js';

const D = (c: string) => c.repeat(22);

function write(path: string, isDir: boolean): EntryWrite {
  const cut = path.lastIndexOf('/');
  return {
    path,
    parent: cut === 0 ? '/' : path.slice(0, cut),
    name: path.slice(cut + 1),
    isDir,
    size: isDir ? 0 : 1,
    mtime: 1_600_000_000_000,
    etag: null,
    mediaKind: null,
    isNew: true,
  };
}

/** The answer as one probe a directory gave it (the statement before the batch). */
function oneByOne(
  repo: SqliteEntryRepository,
  scope: EntryScope,
  dirs: readonly string[],
  digests: readonly (string | null)[],
): {
  same: string[];
  was: [string, { value: string | null; row: number | null }][];
  read: string[];
} {
  const probe = repo.database
    .prepare(
      `SELECT listing_digest, CASE WHEN is_dir THEN id END FROM entries
       WHERE storage_id = ? AND path = ? AND +tenant_id = ?`,
    )
    .raw();
  const same: string[] = [];
  const was: [string, { value: string | null; row: number | null }][] = [];
  const read: string[] = [];
  dirs.forEach((dir, i) => {
    const digest = digests[i] ?? null;
    if (digest === null || dir === '/') {
      read.push(dir);
      return;
    }
    const [value, row] = (probe.get(scope.storageId, dir, scope.tenantId) as
      [string | null, number | null] | undefined) ?? [null, null];
    if (value === digest) same.push(dir);
    else {
      was.push([dir, { value, row }]);
      read.push(dir);
    }
  });
  return { same, was, read };
}

function shape(answer: ChildrenUnlessSame) {
  return {
    same: [...answer.same].sort(),
    was: [...answer.was].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    children: [...answer.children].map(([dir, rows]) => [dir, rows.map((r) => r.path).sort()]),
  };
}

describe('SqliteEntryRepository.childrenUnlessSame', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function index(): Promise<Index> {
    const dir = tempDir('trawl-digest-probe-');
    cleanups.push(dir.cleanup);
    const opened = await openIndex(join(dir.path, 'index.db'));
    cleanups.push(() => opened.close());
    return opened;
  }

  it('answers a batch as a probe of each directory alone would', async () => {
    const idx = await index();
    const scope = await memoryStorageScope(idx);
    const repo = idx.entries as SqliteEntryRepository;
    const lone = '/\uD800x';
    const odd = '/q"\\u0041\\';
    const dirs = ['/a', '/a/b', '/a/c', '/a/d', '/x/y', odd, '/é', lone];
    await repo.apply(
      scope,
      [],
      [
        ...dirs.filter((d) => d !== '/x/y').map((d) => write(d, true)),
        write('/f', false),
        write('/a/b/1.txt', false),
        write('/a/c/2.txt', false),
        write('/a/d/3.txt', false),
        write('/x/y/4.txt', false),
        write(`${odd}/5.txt`, false),
      ],
    );
    // An orphan: `/x/y`'s parent has no row (a scan rooted below `/` wrote it first).
    await repo.apply(scope, [], [write('/x/y', true)]);
    const raw = repo.database;
    expect(
      raw
        .prepare('SELECT parent_id FROM entries WHERE storage_id = ? AND path = ?')
        .pluck()
        .get(scope.storageId, '/x/y'),
    ).toBeNull();
    const set = raw.prepare(
      'UPDATE entries SET listing_digest = ? WHERE storage_id = ? AND tenant_id = ? AND path = ?',
    );
    const stored: [string, string | null][] = [
      ['/a', D('A')],
      ['/a/b', '~0123456789ABCDEF'],
      ['/a/c', null],
      ['/a/d', D('D')],
      ['/x/y', D('Y')],
      [odd, D('Q')],
      ['/é', D('E')],
      [lone, D('L')],
    ];
    for (const [path, value] of stored) set.run(value, scope.storageId, scope.tenantId, path);
    // The same paths in another storage of the tenant, and in another tenant: not these rows.
    const other = {
      tenantId: scope.tenantId,
      storageId: await memoryStorage(idx, scope.tenantId, 'o'),
    };
    const tenant = await idx.tenants.ensure('u');
    const foreign = { tenantId: tenant, storageId: await memoryStorage(idx, tenant, 'p') };
    for (const s of [other, foreign]) {
      await repo.apply(s, [], [write('/a', true), write('/m', true)]);
      set.run(D('A'), s.storageId, s.tenantId, '/a');
      set.run(D('M'), s.storageId, s.tenantId, '/m');
    }

    const probes: [string, string | null][] = [
      ['/a', D('A')], // same
      ['/a/b', D('B')], // a token: compared in full
      ['/a/c', D('C')], // NULL
      ['/a/d', D('Z')], // another digest
      ['/missing', D('M')], // no row here (the other storages hold one)
      ['/m', D('M')],
      ['/f', D('F')], // a file's row: no directory id
      ['/x/y', D('Y')], // an orphan, same
      ['/', D('R')], // the root: no row, read
      ['/a', D('A')], // named twice
      ['/a/b', null], // no digest: read, not probed
      [odd, D('Q')],
      ['/é', D('X')],
      [lone, D('L')],
    ];
    const dirsOf = probes.map((p) => p[0]);
    const digestsOf = probes.map((p) => p[1]);
    const answer = await repo.childrenUnlessSame(scope, dirsOf, digestsOf);
    const expected = oneByOne(repo, scope, dirsOf, digestsOf);
    const children = await repo.childrenOf(scope, expected.read);
    expect(shape(answer)).toEqual({
      same: [...new Set(expected.same)].sort(),
      was: [...new Map(expected.was)].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      children: [...children].map(([dir, rows]) => [dir, rows.map((r) => r.path).sort()]),
    });
    // What that is, spelled out: the checks above compare two readings of one index.
    expect(shape(answer).same).toEqual(['/a', '/x/y', odd, lone].sort());
    const ids = raw.prepare('SELECT id FROM entries WHERE storage_id = ? AND path = ?').pluck();
    expect(answer.was.get('/a/b')).toEqual({
      value: '~0123456789ABCDEF',
      row: ids.get(scope.storageId, '/a/b'),
    });
    expect(answer.was.get('/a/c')).toEqual({ value: null, row: ids.get(scope.storageId, '/a/c') });
    expect(answer.was.get('/missing')).toEqual({ value: null, row: null });
    expect(answer.was.get('/m')).toEqual({ value: null, row: null });
    expect(answer.was.get('/f')).toEqual({ value: null, row: null });
    expect(answer.was.has('/')).toBe(false);
    expect(answer.was.has('/a')).toBe(false);
    expect(answer.children.get('/a/b')?.map((e) => e.path)).toEqual(['/a/b/1.txt']);
    expect(answer.children.get('/a/d')?.map((e) => e.path)).toEqual(['/a/d/3.txt']);
    expect(answer.children.has('/x/y')).toBe(false);
    // (The lone surrogate's row reads back with U+FFFDs: SQLite's text is UTF-8.)
    expect(answer.children.get('/')?.length).toBe(5);
  });

  it('reads every directory when none has a digest, and nothing for an empty batch', async () => {
    const idx = await index();
    const scope = await memoryStorageScope(idx);
    const repo = idx.entries as SqliteEntryRepository;
    await repo.apply(scope, [], [write('/a', true), write('/a/1', false)]);
    const none = await repo.childrenUnlessSame(scope, ['/a', '/'], [null, null]);
    expect(shape(none)).toEqual({
      same: [],
      was: [],
      children: [
        ['/a', ['/a/1']],
        ['/', ['/a']],
      ],
    });
    expect(shape(await repo.childrenUnlessSame(scope, [], []))).toEqual({
      same: [],
      was: [],
      children: [],
    });
  });
});
