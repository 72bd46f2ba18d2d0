/**
 * diffDirectory on its own: what a listing means for the index's rows of its directory, for
 * a whole listing (matched rows counted, the rest removed) and a part of a paged one
 * (matched rows taken out of `old`, nothing removed).
 */
import { describe, expect, it } from 'vitest';
import type { IndexedEntry } from '../src/db/entries.js';
import { byPath, diffDirectory, diffWhole, emptyDiff } from '../src/scan/diff.js';
import type { Entry } from '../src/storage/types.js';

const row = (path: string, isDir = false, size = 1): IndexedEntry => ({
  id: 0,
  path,
  isDir,
  size,
  mtime: 5,
  etag: null,
  mediaKind: null,
});
const entry = (path: string, isDir = false, size = 1, skip?: Entry['skip']): Entry => ({
  path,
  name: path.slice(path.lastIndexOf('/') + 1),
  isDir,
  size,
  mtime: 5,
  ...(skip ? { skip } : {}),
});

describe(diffDirectory.name, () => {
  const indexed = () => [
    row('/d/same'),
    row('/d/grown'),
    row('/d/gone'),
    row('/d/was-dir', true),
    row('/d/now-link'),
    row('/d/gone-dir', true),
  ];
  const listing = [
    entry('/d/same'),
    entry('/d/grown', false, 9),
    entry('/d/was-dir'),
    entry('/d/now-link', false, 0, 'symlink'),
    entry('/d/new'),
  ];

  it('removes, from a whole listing, what vanished, what is now skipped and what changed type', () => {
    const into = emptyDiff();
    diffDirectory('/d', listing, byPath(indexed()), into, true);
    expect(into.removals).toEqual([
      { path: '/d/was-dir', isDir: true },
      { path: '/d/gone', isDir: false },
      { path: '/d/now-link', isDir: false },
      { path: '/d/gone-dir', isDir: true },
    ]);
    expect(into.writes.map((w) => [w.path, w.isNew])).toEqual([
      ['/d/grown', false],
      ['/d/was-dir', true],
      ['/d/new', true],
    ]);
    expect([into.unchangedFiles, into.changedFiles, into.newFiles, into.skipped]).toEqual([
      1, 1, 2, 1,
    ]);
  });

  it('removes nothing of an unchanged whole listing', () => {
    const into = emptyDiff();
    const same = [entry('/d/a'), entry('/d/b', true)];
    diffDirectory('/d', same, byPath([row('/d/b', true), row('/d/a')]), into, true);
    expect(into.removals).toEqual([]);
    expect(into.writes).toEqual([]);
  });

  it('takes matched rows out of a paged listing’s rows and removes nothing', () => {
    const into = emptyDiff();
    const old = byPath(indexed());
    diffDirectory('/d', listing, old, into, false);
    expect(into.removals).toEqual([{ path: '/d/was-dir', isDir: true }]);
    expect([...old.keys()]).toEqual(['/d/gone', '/d/now-link', '/d/gone-dir']);
  });
});

describe(diffWhole.name, () => {
  /** A small deterministic random source (tests must not flake). */
  function rng(seed: number) {
    return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  }

  it('matches an unchanged directory row for row, files first then directories, as SQLite reads them', () => {
    const rows = [row('/d/b'), row('/d/c'), row('/d/a', true), row('/d/d', true)];
    const listing = [entry('/d/a', true), entry('/d/b'), entry('/d/c'), entry('/d/d', true)];
    const into = emptyDiff();
    diffWhole('/d', listing, rows, into);
    expect(into).toMatchObject({ writes: [], removals: [], unchangedFiles: 2, dirs: 2, files: 2 });
  });

  it('gives what diffDirectory gives, whatever the changes and the order of the rows', () => {
    const next = rng(7);
    for (let round = 0; round < 2000; round++) {
      const names = ['a', 'b', 'c', 'd', 'e', 'f'].filter(() => next() < 0.7);
      const rows: IndexedEntry[] = [];
      const listing: Entry[] = [];
      for (const n of names) {
        const inIndex = next() < 0.8;
        const listed = next() < 0.85;
        const isDir = next() < 0.3;
        if (inIndex) rows.push(row(`/d/${n}`, next() < 0.1 ? !isDir : isDir, next() < 0.1 ? 2 : 1));
        if (listed) {
          const skip = next() < 0.05 ? ('symlink' as const) : undefined;
          listing.push(entry(`/d/${n}`, isDir, 1, skip));
        }
      }
      // Rows as SQLite reads them (files, then directories), or shuffled as another index may.
      if (next() < 0.7) rows.sort((x, y) => Number(x.isDir) - Number(y.isDir));
      else rows.sort(() => next() - 0.5);
      const want = emptyDiff();
      diffDirectory('/d', listing, byPath(rows.map((r) => ({ ...r }))), want, true);
      const got = emptyDiff();
      diffWhole('/d', listing, rows, got);
      const sorted = (d: typeof got) => ({
        ...d,
        removals: [...d.removals].sort((x, y) => x.path.localeCompare(y.path)),
      });
      expect(sorted(got)).toEqual(sorted(want));
    }
  });

  it('writes every listed entry of a directory the index does not hold', () => {
    const into = emptyDiff();
    diffWhole('/d', [entry('/d/a'), entry('/d/b', true)], undefined, into);
    expect(into.writes.map((w) => [w.path, w.isNew])).toEqual([
      ['/d/a', true],
      ['/d/b', true],
    ]);
    expect(into.newFiles).toBe(1);
  });
});
