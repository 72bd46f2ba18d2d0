/**
 * The gitignore matcher: its rules by example, and the same answers as `git check-ignore`
 * over a fixed tree (git is the reference the docs promise).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePattern } from '../src/scan/exclude/pattern.js';
import { RuleSet } from '../src/scan/exclude/rules.js';
import { Exclusions } from '../src/scan/exclude/exclusions.js';
import { tempDir } from './support/harness.js';

function excluded(lines: string[], path: string, isDir = false): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return RuleSet.parse('/', 'test', lines).verdict({ path, name, isDir }) === 'excluded';
}

describe(RuleSet.name, () => {
  it('matches a bare name at any depth, and an anchored pattern only from its directory', () => {
    expect(excluded(['node_modules'], '/a/b/node_modules', true)).toBe(true);
    expect(excluded(['/node_modules'], '/a/node_modules', true)).toBe(false);
    expect(excluded(['/node_modules'], '/node_modules', true)).toBe(true);
    expect(excluded(['a/b'], '/a/b')).toBe(true);
    expect(excluded(['a/b'], '/x/a/b')).toBe(false);
  });

  it('keeps a trailing slash for directories and lets the last match decide', () => {
    expect(excluded(['build/'], '/build', true)).toBe(true);
    expect(excluded(['build/'], '/build', false)).toBe(false);
    expect(excluded(['*.tmp', '!keep.tmp'], '/x/keep.tmp')).toBe(false);
    expect(excluded(['!keep.tmp', '*.tmp'], '/x/keep.tmp')).toBe(true);
  });

  it('spans directories with ** only between slashes', () => {
    expect(excluded(['a/**/z'], '/a/z')).toBe(true);
    expect(excluded(['a/**/z'], '/a/1/2/z')).toBe(true);
    expect(excluded(['**/cache'], '/p/q/cache', true)).toBe(true);
    expect(excluded(['x/**'], '/x/1/2')).toBe(true);
    expect(excluded(['x/**'], '/x', true)).toBe(false);
    expect(excluded(['a**b'], '/a/x/b')).toBe(false);
    expect(excluded(['a**b'], '/axxb')).toBe(true);
  });

  it('reads comments and escapes in files, and takes a lone pattern literally', () => {
    expect(excluded(['#recycle'], '/#recycle', true)).toBe(false);
    expect(excluded(['\\#recycle'], '/#recycle', true)).toBe(true);
    const lone = RuleSet.parse('/', 'cli', ['#recycle'], false);
    expect(lone.verdict({ path: '/v/#recycle', name: '#recycle', isDir: true })).toBe('excluded');
    expect(excluded(['lit\\*star'], '/lit*star')).toBe(true);
    expect(excluded(['lit\\*star'], '/litXstar')).toBe(false);
    expect(excluded(['trail   '], '/trail')).toBe(true);
    expect(excluded(['sp\\ '], '/sp ')).toBe(true);
  });

  it('matches nothing for a pattern git aborts on', () => {
    expect(compilePattern('x[')?.regex).toBeUndefined();
    expect(compilePattern('x\\')?.regex).toBeUndefined();
    expect(excluded(['x['], '/x[')).toBe(false);
  });
});

describe(Exclusions.name, () => {
  const e = (path: string, isDir = false) => ({
    path,
    name: path.slice(path.lastIndexOf('/') + 1),
    isDir,
  });

  it('ranks the scan first, marker files (deepest first) next, the storage list last', () => {
    const root = Exclusions.root(['!keep.jpg'], ['*.jpg']);
    expect(root.excludes(e('/a/x.jpg'))).toBe(true);
    expect(root.excludes(e('/a/keep.jpg'))).toBe(false);
    const outer = root.withMarkers([RuleSet.parse('/a', '/a/.trawlignore', ['!x.jpg', '*.png'])]);
    expect(outer.excludes(e('/a/x.jpg'))).toBe(false);
    const inner = outer.withMarkers([RuleSet.parse('/a/b', '/a/b/.trawlignore', ['!*.png'])]);
    expect(inner.excludes(e('/a/b/y.png'))).toBe(false);
    expect(outer.excludes(e('/a/b/y.png'))).toBe(true);
    expect(inner.excludingAll().excludes(e('/a/b/keep.jpg'))).toBe(true);
  });

  it('is inert without a rule, and shares itself with a directory without markers', () => {
    const root = Exclusions.root();
    expect(root.inert).toBe(true);
    expect(root.withMarkers([RuleSet.parse('/a', 'f', ['# only a comment'])])).toBe(root);
  });
});

/**
 * Each case: a path (a trailing `/` makes it a directory) and whether git ignores it. The
 * patterns cover git's own examples and each rule the matcher implements.
 */
const GITIGNORE = [
  '*.tmp',
  '!keep.tmp',
  '/anchored',
  'doc/*.txt',
  '**/deep',
  'a/**/z',
  'build/',
  '.Trash-*',
  '\\#recycle',
  '#comment',
  '@eaDir',
  'node_modules',
  'trailing   ',
  'sp\\ ',
  '[abc]x',
  '[!abc]y',
  '[a-c]r?',
  '*.[Jj][Pp][Gg]',
  'x[',
  'cache/**',
  'lit\\*star',
  'q?',
  'cl[[:digit:]]',
  'mid/**/end/',
  '!mid/keep/**/end/',
].join('\n');

const PATHS = [
  'f.tmp',
  'sub/f.tmp',
  'sub/keep.tmp',
  'anchored',
  'sub/anchored',
  'doc/a.txt',
  'doc/sub/a.txt',
  'sub/doc/a.txt',
  'deep/',
  'p/q/deep/',
  'a/z',
  'a/b/c/z',
  'b/a/z',
  'build/',
  'sub/build/',
  'buildfile',
  '.Trash-1000/',
  '#recycle/',
  '#comment',
  '@eaDir/',
  'sub/@eaDir/',
  'node_modules/',
  'trailing',
  'sp ',
  'ax',
  'dx',
  'by',
  'ay',
  'br1',
  'dr1',
  'IMG.JPG',
  'img.jPg',
  'img.png',
  'x[',
  'cache/',
  'cache/f',
  'cache/d/b',
  'lit*star',
  'litXstar',
  'q1',
  'q12',
  'cl5',
  'clx',
  'mid/end/',
  'mid/1/2/end/',
  'mid/keep/end/',
  'mid/keep/x/end/',
  'Ünïcode.tmp',
];

describe('the matcher against git check-ignore', () => {
  const dir = tempDir('trawl-gitignore-');
  afterAll(() => dir.cleanup());

  it('answers as git does for every path of the fixture', () => {
    const repo = dir.path;
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, '.gitignore'), GITIGNORE + '\n');
    for (const p of PATHS) {
      if (p.endsWith('/')) mkdirSync(join(repo, p), { recursive: true });
      else {
        mkdirSync(join(repo, p, '..'), { recursive: true });
        writeFileSync(join(repo, p), '');
      }
    }
    const queried = PATHS.map((p) => (p.endsWith('/') ? p.slice(0, -1) : p));
    const out = execFileSync(
      'git',
      ['-C', repo, 'check-ignore', '--no-index', '-v', '-n', '-z', '--stdin'],
      { input: queried.join('\0') + '\0' },
    ).toString('utf8');
    const fields = out.split('\0');
    const git = new Map<string, boolean>();
    for (let i = 0; i + 3 < fields.length; i += 4) {
      const pattern = fields[i + 2]!;
      git.set(fields[i + 3]!, pattern !== '' && !pattern.startsWith('!'));
    }
    const rules = RuleSet.parse('/', '.gitignore', GITIGNORE.split('\n'));
    const ours = new Map<string, boolean>();
    const theirs = new Map<string, boolean>();
    for (const p of PATHS) {
      const path = p.endsWith('/') ? p.slice(0, -1) : p;
      const name = path.slice(path.lastIndexOf('/') + 1);
      ours.set(
        path,
        rules.verdict({ path: `/${path}`, name, isDir: p.endsWith('/') }) === 'excluded',
      );
      theirs.set(path, git.get(path)!);
    }
    expect(ours).toEqual(theirs);
    // The fixture is worth something only if it holds both answers many times.
    expect([...theirs.values()].filter(Boolean).length).toBeGreaterThan(15);
    expect([...theirs.values()].filter((v) => !v).length).toBeGreaterThan(15);
  });
});
