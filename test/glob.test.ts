import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { QueryError } from '../src/db/queries/errors.js';
import { compileGlob } from '../src/db/queries/glob.js';

const name = (pattern: string, caseSensitive = false) =>
  compileGlob(pattern, { field: 'name', caseSensitive });
const path = (pattern: string, caseSensitive = false) =>
  compileGlob(pattern, { field: 'path', caseSensitive, path: true });

/** The texts of `texts` the glob matches. */
const matched = (g: { test(s: string): boolean }, texts: string[]) =>
  texts.filter((t) => g.test(t));

describe(compileGlob.name, () => {
  it('matches a whole name with * and ?, letters of either case by default', () => {
    const names = ['a.mkv', 'A.MKV', 'a.mkv.part', 'xa.mkv', '.mkv', 'ab.mk'];
    expect(matched(name('*.mkv'), names)).toEqual(['a.mkv', 'A.MKV', 'xa.mkv', '.mkv']);
    expect(matched(name('?.mkv'), names)).toEqual(['a.mkv', 'A.MKV']);
    expect(matched(name('*.MKV', true), names)).toEqual(['A.MKV']);
    expect(matched(name('a*'), names)).toEqual(['a.mkv', 'A.MKV', 'a.mkv.part', 'ab.mk']);
  });

  it('reads classes, ranges, negation and escapes', () => {
    const names = ['a1', 'b2', 'c3', '-', ']', '!', 'a*', 'a?', 'a\\'];
    expect(matched(name('[ab][0-9]'), names)).toEqual(['a1', 'b2']);
    expect(matched(name('[!ab]?'), names)).toEqual(['c3']);
    expect(matched(name('[^a-b]3'), names)).toEqual(['c3']);
    expect(matched(name('[-]'), names)).toEqual(['-']);
    expect(matched(name('[]]'), names)).toEqual([']']);
    expect(matched(name('[!]x]'), ['!', ']', 'x'])).toEqual(['!']);
    expect(matched(name('a\\*'), names)).toEqual(['a*']);
    expect(matched(name('a\\?'), names)).toEqual(['a?']);
    expect(matched(name('a\\\\'), names)).toEqual(['a\\']);
  });

  it('takes regex syntax in a name as plain text', () => {
    const names = ['a.b', 'axb', '(x)+$', 'a{2}', '^x|y'];
    expect(matched(name('a.b'), names)).toEqual(['a.b']);
    expect(matched(name('(x)+$'), names)).toEqual(['(x)+$']);
    expect(matched(name('a{2}'), names)).toEqual(['a{2}']);
    expect(matched(name('^x|y'), names)).toEqual(['^x|y']);
  });

  it('matches characters beyond ASCII whole, in either case', () => {
    expect(matched(name('?.txt'), ['é.txt', '😀.txt', 'ab.txt'])).toEqual(['é.txt', '😀.txt']);
    expect(matched(name('école*'), ['ÉCOLE.md', 'école.txt', 'ecole'])).toEqual([
      'ÉCOLE.md',
      'école.txt',
    ]);
    expect(matched(name('*\n*'), ['new\nline', 'plain'])).toEqual(['new\nline']);
  });

  it('keeps * and ? of a path inside one directory, and lets ** cross them', () => {
    const paths = ['/a/b.flac', '/a/x/b.flac', '/a/x/y/b.flac', '/b.flac', '/ab.flac'];
    expect(matched(path('/a/*.flac'), paths)).toEqual(['/a/b.flac']);
    expect(matched(path('/a/**/b.flac'), paths)).toEqual([
      '/a/b.flac',
      '/a/x/b.flac',
      '/a/x/y/b.flac',
    ]);
    expect(matched(path('/a/**'), paths)).toEqual(['/a/b.flac', '/a/x/b.flac', '/a/x/y/b.flac']);
    expect(matched(path('**/b.flac'), paths)).toEqual([
      '/a/b.flac',
      '/a/x/b.flac',
      '/a/x/y/b.flac',
      '/b.flac',
    ]);
    expect(matched(path('/a?.flac'), paths)).toEqual(['/ab.flac']);
    expect(matched(path('/a[/]b.flac'), ['/a/b.flac'])).toEqual([]);
    expect(matched(path('/a[!x]b.flac'), ['/a/b.flac', '/acb.flac'])).toEqual(['/acb.flac']);
  });

  it('roots a path glob that does not start with /', () => {
    expect(matched(path('a/*.flac'), ['/a/b.flac', '/x/a/b.flac'])).toEqual(['/a/b.flac']);
    expect(matched(path('*.flac'), ['/b.flac', '/a/b.flac'])).toEqual(['/b.flac']);
  });

  it('tells the index what every match contains and where every path match is', () => {
    expect(name('IMG_*_sunset.jpg').literal).toBe('_sunset.jpg');
    expect(name('*').literal).toBe('');
    expect(name('a\\*b*').literal).toBe('a*b');
    expect(path('/Music/20?5/*.flac').dir).toBe('/Music');
    expect(path('/Music/2005/x.flac').dir).toBe('/Music/2005');
    expect(path('**/x.flac').dir).toBe('/');
    expect(path('/M*').dir).toBe('/');
  });

  it("gives a LIKE pattern every match satisfies, as SQLite's LIKE reads it", () => {
    const sqlite = new BetterSqlite3(':memory:');
    const like = sqlite.prepare("SELECT ? LIKE ? ESCAPE '\\' AS hit").pluck();
    const names = [
      'a.mkv',
      'A.MKV',
      'x%y_z\\w.txt',
      'école.MKV',
      'ÉCOLE.mkv',
      'emoji 😀.png',
      'ſKy.txt', // the long s and the Kelvin sign fold to s and k
      "it's [1].txt",
      'Clip 05.flac',
    ];
    const globs = [
      '*.mkv',
      '*.MKV',
      '?.mkv',
      '*%_*',
      '*\\\\*',
      'école*',
      '*😀*',
      'sky*',
      '[cC]lip ?[05].*',
      '[!a]*',
      "it's \\[1\\]*",
    ];
    let checked = 0;
    for (const pattern of globs) {
      for (const cs of [false, true]) {
        const g = name(pattern, cs);
        expect(g.like).not.toBe('');
        for (const n of names) {
          if (!g.test(n)) continue;
          checked++;
          expect({ pattern, n, hit: like.get(`/dir/${n}`, `%/${g.like}`) }).toEqual({
            pattern,
            n,
            hit: 1,
          });
        }
      }
    }
    for (const [pattern, p] of [
      ['/films/**/clip 3*', '/films/a/b/clip 31.mkv'],
      ['**/*.flac', '/x/Y.FLAC'],
      ['films/*', '/films/x'],
    ] as const) {
      expect(path(pattern).test(p)).toBe(true);
      expect(like.get(p, path(pattern).like)).toBe(1);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    expect(name('*.mkv').like).toBe('%.m_v');
    expect(name('a%b_c', true).like).toBe('a\\%b\\_c');
    sqlite.close();
  });

  it('refuses what is no glob, naming the field', () => {
    const refused = (f: () => unknown): QueryError => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(QueryError);
        return error as QueryError;
      }
      throw new Error('not refused');
    };
    expect(refused(() => name('a/b')).message).toBe(
      'name: a name has no "/": "a/b" (match paths with --path)',
    );
    expect(refused(() => name('[ab')).message).toBe('name: "[" without its "]" in "[ab"');
    expect(refused(() => path('x\\')).message).toBe('path: ends with a lone "\\"');
    expect(refused(() => name('')).field).toBe('name');
    expect(refused(() => name('x'.repeat(5000))).message).toMatch(/longer than 4096/);
  });
});
