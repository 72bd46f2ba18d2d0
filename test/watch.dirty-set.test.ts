import { describe, expect, it } from 'vitest';
import { DirtySet } from '../src/jobs/watch/dirty-set.js';
import { stepsFor } from '../src/jobs/watch/apply.js';
import type { EntryRepository, IndexedEntry } from '../src/db/entries.js';

describe(DirtySet.name, () => {
  it('hands over marks in path order, nothing under a deep directory, and empties', () => {
    const set = new DirtySet(100);
    set.markShallow('/b');
    set.markShallow('/a/x');
    set.markDeep('/a');
    set.markShallow('/a/y/z');
    set.markShallow('/');
    set.markDeep('/c/d');
    set.markDeep('/c');
    expect(set.take()).toEqual({ shallow: ['/', '/b'], deep: ['/a', '/c'], coarsened: 0 });
    expect(set.take()).toEqual({ shallow: [], deep: [], coarsened: 0 });
  });

  it('coarsens to the subtrees the marks were in when it outgrows its bound, losing none', () => {
    const set = new DirtySet(10);
    const marked: string[] = [];
    for (const top of ['p', 'q']) {
      for (let i = 0; i < 8; i++) {
        const dir = `/${top}/s${i}/leaf`;
        set.markShallow(dir);
        marked.push(dir);
      }
    }
    set.markShallow('/');
    const plan = set.take();
    expect(plan.coarsened).toBeGreaterThan(0);
    expect(plan.shallow.length + plan.deep.length).toBeLessThanOrEqual(10);
    // Every marked directory is still listed: itself, or under a deep directory.
    for (const dir of [...marked, '/']) {
      const covered =
        plan.shallow.includes(dir) ||
        plan.deep.some((d) => d === '/' || d === dir || dir.startsWith(`${d}/`));
      expect(covered, dir).toBe(true);
    }
    expect(plan.shallow).toContain('/');
    expect(plan.deep).toEqual(['/p', '/q']);
  });

  it('refuses a bound below 2', () => {
    expect(() => new DirtySet(1)).toThrow(/maxDirty/);
  });
});

describe(stepsFor.name, () => {
  /** An index that holds these directories. */
  function holding(...dirs: string[]): EntryRepository {
    return {
      lookup: async (_scope: unknown, paths: readonly string[]) => {
        const found = new Map<string, IndexedEntry>();
        for (const p of paths) {
          if (dirs.includes(p)) {
            found.set(p, {
              id: 1,
              path: p,
              isDir: true,
              size: 0,
              mtime: 0,
              etag: null,
              mediaKind: null,
            });
          }
        }
        return found;
      },
    } as unknown as EntryRepository;
  }
  const scope = { tenantId: 1, storageId: 1 };

  it('reaches a directory the index lacks from its nearest indexed ancestor', async () => {
    const steps = await stepsFor(
      { shallow: ['/a/new/deeper', '/b'], deep: [], coarsened: 0 },
      holding('/a', '/b'),
      scope,
    );
    expect(steps).toEqual([
      { dir: '/a', deep: false },
      { dir: '/a/new', deep: true, unindexed: true },
      { dir: '/b', deep: false },
    ]);
  });

  it('reaches a directory the index holds as a file from its parent, as one it lacks', async () => {
    const dirs = holding('/a');
    // `/a/four` has a file's row: its children go in only once `/a`'s listing made it a
    // directory, or a file again later would keep them for good.
    const index = {
      lookup: async (s: typeof scope, paths: readonly string[]) => {
        const found = await dirs.lookup(s, paths);
        if (paths.includes('/a/four')) {
          found.set('/a/four', {
            id: 2,
            path: '/a/four',
            isDir: false,
            size: 4,
            mtime: 0,
            etag: null,
            mediaKind: null,
          });
        }
        return found;
      },
    } as unknown as EntryRepository;
    const steps = await stepsFor({ shallow: ['/a/four'], deep: [], coarsened: 0 }, index, scope);
    expect(steps).toEqual([
      { dir: '/a', deep: false },
      { dir: '/a/four', deep: true, unindexed: true },
    ]);
  });

  it('lists a marked directory the index holds as marked', async () => {
    const steps = await stepsFor(
      { shallow: ['/', '/a'], deep: ['/a/b'], coarsened: 0 },
      holding('/a', '/a/b'),
      scope,
    );
    expect(steps).toEqual([
      { dir: '/', deep: false },
      { dir: '/a', deep: false },
      { dir: '/a/b', deep: true },
    ]);
  });
});
