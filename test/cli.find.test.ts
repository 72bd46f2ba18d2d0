import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFixture, type CliRun } from './fixtures/cli.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';

const DAY = Date.UTC(2018, 0, 1);

/**
 * The fixed tree every exact output below is of: 10 files (2,441,351,007 bytes) in 8
 * directories, every media kind, an empty directory and a name with a newline.
 */
function fill(fx: ReturnType<typeof cliFixture>): void {
  for (const dir of ['/Films/Alien (1979)', '/Music/Artist', '/Photos/2024', '/odd']) {
    fx.tree.mkdir(dir, DAY);
  }
  for (const dir of ['/Films', '/Music', '/Photos']) fx.tree.mkdir(dir, DAY);
  fx.tree
    .mkdir('/empty', Date.UTC(2021, 0, 1))
    .writeFile('/Films/Alien (1979)/Alien.mkv', 1_500_000_000, Date.UTC(2020, 0, 1))
    .writeFile('/Films/Alien (1979)/Alien.en.srt', 50_000, Date.UTC(2020, 0, 1))
    .writeFile('/Films/Heat.MP4', 900_000_000, Date.UTC(2023, 5, 15))
    .writeFile('/Music/Artist/01 Intro.flac', 30_000_000, Date.UTC(2019, 2, 3))
    .writeFile('/Music/Artist/02 Song.mp3', 5_000_000, Date.UTC(2019, 2, 3, 1))
    .writeFile('/Music/Artist/cover.jpg', 200_000, Date.UTC(2019, 2, 3, 2))
    .writeFile('/Photos/2024/IMG_0001.JPG', 3_000_000, Date.UTC(2024, 6, 1))
    .writeFile('/Photos/2024/IMG_0002.jpg', 3_100_000, Date.UTC(2024, 6, 2))
    .writeFile('/notes.txt', 1_000, Date.UTC(2025, 0, 1))
    .writeFile('/odd/new\nline.txt', 7, Date.UTC(2025, 0, 2));
}

/** One line on stderr naming the problem, nothing on stdout, exit 1, no stack trace. */
function expectOneErrorLine(r: CliRun, pattern: RegExp) {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^trawl: /);
  expect(lines[0]).toMatch(pattern);
}

const json = (r: CliRun) => r.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const paths = (r: CliRun) => {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return json(r).map((o) => o.path);
};

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`trawl find, du and ls on ${dialect}`, () => {
    let fx: ReturnType<typeof cliFixture>;
    let database: TestDatabase;
    const run = (args: string[]) => fx.run([...args, '--db', database.url]);
    const find = (...args: string[]) => run(['find', fx.url, ...args]);
    const du = (...args: string[]) => run(['du', fx.url, ...args]);
    const ls = (...args: string[]) => run(['ls', fx.url, ...args]);

    beforeAll(async () => {
      database = await createDatabase(dialect);
      fx = cliFixture();
      fill(fx);
      expect((await run(['scan', fx.url])).code).toBe(0);
    });
    afterAll(async () => {
      fx?.close();
      await database?.drop();
    });

    it('prints matches as JSON lines with their media kind, in path order', async () => {
      const r = await find('--ext', 'mkv,mp4', '--json');
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(json(r)).toEqual([
        {
          path: '/Films/Alien (1979)/Alien.mkv',
          type: 'file',
          size: 1_500_000_000,
          mtime: '2020-01-01T00:00:00.000Z',
          kind: 'video',
        },
        {
          path: '/Films/Heat.MP4',
          type: 'file',
          size: 900_000_000,
          mtime: '2023-06-15T00:00:00.000Z',
          kind: 'video',
        },
      ]);
    });

    it('prints a table for people and NUL-ended paths for xargs -0', async () => {
      const table = await find('--name', 'img_*');
      expect(table).toMatchObject({ code: 0, stderr: '' });
      expect(table.lines).toEqual([
        '-    3.0 MB  2024-07-01T00:00:00.000Z  /Photos/2024/IMG_0001.JPG',
        '-    3.1 MB  2024-07-02T00:00:00.000Z  /Photos/2024/IMG_0002.jpg',
      ]);
      const dirs = await find('--type', 'd', '--name', 'a*');
      expect(dirs.lines).toEqual([
        'd         -  2018-01-01T00:00:00.000Z  /Films/Alien (1979)',
        'd         -  2018-01-01T00:00:00.000Z  /Music/Artist',
      ]);
      const nul = await find('--kind', 'audio,subtitle', '-0');
      expect(nul).toMatchObject({ code: 0, stderr: '' });
      expect(nul.stdout).toBe(
        '/Films/Alien (1979)/Alien.en.srt\0/Music/Artist/01 Intro.flac\0/Music/Artist/02 Song.mp3\0',
      );
      // A newline in a name: escaped for people, whole in JSON and after -0.
      expect((await find('--name', 'new*')).lines).toEqual([
        '-       7 B  2025-01-02T00:00:00.000Z  /odd/new\\nline.txt',
      ]);
      expect((await find('--name', 'new*', '-0')).stdout).toBe('/odd/new\nline.txt\0');
    });

    it('filters by type, size, time, path and case, as fd does', async () => {
      expect(paths(await find('--type', 'd', '--json'))).toEqual([
        '/Films',
        '/Films/Alien (1979)',
        '/Music',
        '/Music/Artist',
        '/Photos',
        '/Photos/2024',
        '/empty',
        '/odd',
      ]);
      expect(paths(await find('--size', '+1G', '--json'))).toEqual([
        '/Films/Alien (1979)/Alien.mkv',
      ]);
      // A size is a file's: directories (size 0) are not "at most 100k".
      expect(paths(await find('--size', '-100k', '--json'))).toEqual([
        '/Films/Alien (1979)/Alien.en.srt',
        '/notes.txt',
        '/odd/new\nline.txt',
      ]);
      expect(paths(await find('-S', '+1M', '-S', '-5M', '--json'))).toEqual([
        '/Music/Artist/02 Song.mp3',
        '/Photos/2024/IMG_0001.JPG',
        '/Photos/2024/IMG_0002.jpg',
      ]);
      expect(paths(await find('--newer', '2024-07-02', '--json'))).toEqual([
        '/Photos/2024/IMG_0002.jpg',
        '/notes.txt',
        '/odd/new\nline.txt',
      ]);
      expect(paths(await find('--older', '2019-03-03T01:00:00Z', '--type', 'f', '--json'))).toEqual(
        ['/Music/Artist/01 Intro.flac'],
      );
      expect(paths(await find('--path', 'Music/**', '--json'))).toEqual([
        '/Music/Artist',
        '/Music/Artist/01 Intro.flac',
        '/Music/Artist/02 Song.mp3',
        '/Music/Artist/cover.jpg',
      ]);
      expect(paths(await find('--path', '**/*.jpg', '--json'))).toEqual([
        '/Music/Artist/cover.jpg',
        '/Photos/2024/IMG_0001.JPG',
        '/Photos/2024/IMG_0002.jpg',
      ]);
      expect(paths(await find('--path', '**/*.jpg', '-s', '--json'))).toEqual([
        '/Music/Artist/cover.jpg',
        '/Photos/2024/IMG_0002.jpg',
      ]);
      expect(paths(await run(['find', fx.url, '/Music', '--ext', 'mp3', '--json']))).toEqual([
        '/Music/Artist/02 Song.mp3',
      ]);
    });

    it('sorts by name, size (largest first) or time (newest first), and stops at --limit', async () => {
      expect(paths(await find('--sort', 'size', '--limit', '3', '--json'))).toEqual([
        '/Films/Alien (1979)/Alien.mkv',
        '/Films/Heat.MP4',
        '/Music/Artist/01 Intro.flac',
      ]);
      expect(paths(await find('--sort', 'mtime', '--type', 'f', '--limit', '2', '--json'))).toEqual(
        ['/odd/new\nline.txt', '/notes.txt'],
      );
      expect(
        paths(await find('--sort', 'mtime', '--reverse', '--type', 'f', '--limit', '2', '--json')),
      ).toEqual(['/Music/Artist/01 Intro.flac', '/Music/Artist/02 Song.mp3']);
      const byName = json(await find('--sort', 'name', '--type', 'f', '--json'));
      expect(byName.map((o) => String(o.path).split('/').pop())).toEqual([
        '01 Intro.flac',
        '02 Song.mp3',
        'Alien.en.srt',
        'Alien.mkv',
        'Heat.MP4',
        'IMG_0001.JPG',
        'IMG_0002.jpg',
        'cover.jpg',
        'new\nline.txt',
        'notes.txt',
      ]);
      expect(paths(await find('--reverse', '--type', 'd', '--limit', '1', '--json'))).toEqual([
        '/odd',
      ]);
    });

    it('exits 0 with nothing printed when nothing matches', async () => {
      expect(await find('--name', 'nothing-like-this*')).toMatchObject({
        code: 0,
        stdout: '',
        stderr: '',
      });
    });

    it('answers every bad input with one line on stderr and exit 1', async () => {
      const cases: [string[], RegExp][] = [
        [['--size', '1X'], /--size <size>.* expected a size such as \+1G.*got "1X"/],
        [['--newer', 'yesterday'], /--newer <when>.*got "yesterday"/],
        [['--older', '2026-02-30x'], /--older <when>.*got "2026-02-30x"/],
        [['--kind', 'movie'], /--kind <list>.*got "movie"/],
        [['--ext', 'mkv,,mp4'], /--ext <list>.*comma-separated list/],
        [['--type', 'x'], /--type <f\|d>.*got "x"/],
        [['--sort', 'big'], /--sort <key>.*got "big"/],
        [['--limit', '0'], /--limit expects an integer from 1 and up, got "0"/],
        [['--name', '[abc'], /--name: "\[" without its "\]" in "\[abc"/],
        [['--name', 'a/b'], /--name: a name has no "\/": "a\/b" \(match paths with --path\)/],
        [['--path', 'a\\'], /--path: ends with a lone "\\"/],
        [['--json', '-0'], /option '--json' cannot be used with option '-0, --print0'/],
        [['--size', '+1G', '--size', '-1k'], /--size: at least 1000000000 and at most 1000 bytes/],
        [['--absolute'], /--absolute needs a local storage; \S+ is memory/],
        [['--bogus'], /unknown option '--bogus'/],
      ];
      for (const [args, pattern] of cases) expectOneErrorLine(await find(...args), pattern);
      expectOneErrorLine(
        await run(['find', fx.url, '/nope']),
        /nothing indexed at \/nope in memory:\/\//,
      );
      expectOneErrorLine(
        await run(['find', fx.url, '/notes.txt']),
        /not a directory: \/notes.txt in memory:\/\//,
      );
      expectOneErrorLine(await run(['find', fx.url, '../up']), /path must not contain "\.\."/);
      expectOneErrorLine(
        await run(['find', 'memory://never']),
        /nothing indexed for memory:\/\/never \(run: trawl scan memory:\/\/never\)/,
      );
    });

    it('du: totals per directory, largest first, as a table', async () => {
      const r = await du();
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.lines).toEqual([
        '   SIZE  FILES  DIRS   VIDEO    AUDIO     IMAGE  SUBTITLE  PATH',
        ' 2.4 GB     10     8  2.4 GB  35.0 MB    6.3 MB   50.0 kB  /',
        ' 2.4 GB      3     1  2.4 GB        -         -   50.0 kB  /Films',
        '35.2 MB      3     1       -  35.0 MB  200.0 kB         -  /Music',
        ' 6.1 MB      2     1       -        -    6.1 MB         -  /Photos',
        '    7 B      1     0       -        -         -         -  /odd',
        '    0 B      0     0       -        -         -         -  /empty',
      ]);
    });

    it('du: JSON lines with every kind, a depth, a directory or a file', async () => {
      const zero = { files: 0, bytes: 0 };
      const top = json(await du('--depth', '0', '--json'));
      expect(top).toEqual([
        {
          path: '/',
          dirs: 8,
          files: 10,
          bytes: 2_441_351_007,
          kinds: {
            video: { files: 2, bytes: 2_400_000_000 },
            audio: { files: 2, bytes: 35_000_000 },
            image: { files: 3, bytes: 6_300_000 },
            subtitle: { files: 1, bytes: 50_000 },
            other: { files: 2, bytes: 1_007 },
          },
        },
      ]);
      const films = json(await run(['du', fx.url, '/Films', '-d', '2', '--json']));
      expect(films.map((o) => [o.path, o.files, o.dirs, o.bytes])).toEqual([
        ['/Films', 3, 1, 2_400_050_000],
        ['/Films/Alien (1979)', 2, 0, 1_500_050_000],
      ]);
      const file = json(await run(['du', fx.url, '/Films/Heat.MP4', '--json']));
      expect(file).toEqual([
        {
          path: '/Films/Heat.MP4',
          dirs: 0,
          files: 1,
          bytes: 900_000_000,
          kinds: {
            video: { files: 1, bytes: 900_000_000 },
            audio: zero,
            image: zero,
            subtitle: zero,
            other: zero,
          },
        },
      ]);
      // Every directory, however deep, with a depth past the tree's.
      const deep = json(await du('--depth', '9', '--json'));
      expect(deep.map((o) => o.path)).toEqual([
        '/',
        '/Films',
        '/Films/Alien (1979)',
        '/Music',
        '/Music/Artist',
        '/Photos',
        '/Photos/2024',
        '/odd',
        '/empty',
      ]);
    });

    it('du: bad input is one line and exit 1', async () => {
      expectOneErrorLine(await du('--depth', 'x'), /--depth <n>.*got "x"/);
      expectOneErrorLine(await du('--depth', '-1'), /--depth <n>.*got "-1"/);
      expectOneErrorLine(await du('--depth', '65'), /--depth: expected an integer from 0 to 64/);
      expectOneErrorLine(await run(['du', fx.url, '/nope']), /nothing indexed at \/nope/);
      expectOneErrorLine(await run(['du', 'nosuch']), /nothing indexed for nosuch/);
    });

    it('ls: sorts, keeps files or directories or media kinds, and ends with a total', async () => {
      const r = await ls();
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.lines).toEqual([
        'd         -  2018-01-01T00:00:00.000Z  /Films',
        'd         -  2018-01-01T00:00:00.000Z  /Music',
        'd         -  2018-01-01T00:00:00.000Z  /Photos',
        'd         -  2021-01-01T00:00:00.000Z  /empty',
        '-    1.0 kB  2025-01-01T00:00:00.000Z  /notes.txt',
        'd         -  2018-01-01T00:00:00.000Z  /odd',
        'total: 5 dirs, 1 file, 1.0 kB',
      ]);
      const bySize = await ls('-r', '--files', '--sort', 'size');
      expect(bySize.lines.at(-1)).toBe('total: 0 dirs, 10 files, 2.4 GB');
      expect(bySize.lines.slice(0, 2)).toEqual([
        '-    1.5 GB  2020-01-01T00:00:00.000Z  /Films/Alien (1979)/Alien.mkv',
        '-  900.0 MB  2023-06-15T00:00:00.000Z  /Films/Heat.MP4',
      ]);
      expect(
        paths(
          await ls('/Music/Artist', '--kind', 'audio', '--sort', 'name', '--reverse', '--json'),
        ),
      ).toEqual(['/Music/Artist/02 Song.mp3', '/Music/Artist/01 Intro.flac']);
      expect(paths(await ls('-r', '--dirs', '--sort', 'mtime', '--json'))[0]).toBe('/empty');
      expect((await ls('/empty')).lines).toEqual(['total: 0 dirs, 0 files, 0 B']);
      expectOneErrorLine(
        await ls('--files', '--dirs'),
        /option '--files' cannot be used with option '--dirs'/,
      );
      expectOneErrorLine(await ls('--sort', 'path'), /--sort <key>.*got "path"/);
    });
  });
}
