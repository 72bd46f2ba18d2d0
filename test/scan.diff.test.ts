/**
 * diffDirectory on its own: what a listing means for the index's rows of its directory, for
 * a whole listing (matched rows counted, the rest removed) and a part of a paged one
 * (matched rows taken out of `old`, nothing removed).
 */
import { describe, expect, it } from 'vitest';
import type { IndexedEntry } from '../src/db/entries.js';
import { byPath, diffDirectory, emptyDiff } from '../src/scan/diff.js';
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
