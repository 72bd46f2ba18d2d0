import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliFixture, type CliRun } from './fixtures/cli.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';

/** One line on stderr naming the problem, nothing on stdout, exit 1. */
function expectOneErrorLine(r: CliRun, pattern: RegExp) {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^trawl: /);
  expect(lines[0]).toMatch(pattern);
}

const paths = (r: CliRun) => {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return r.lines.map((l) => (JSON.parse(l) as { path: string }).path);
};

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(
    `a place inside a scanned folder (${dialect})`,
    () => {
      let fx: ReturnType<typeof cliFixture>;
      let database: TestDatabase;
      let music: string;
      const run = (args: string[]) => fx.run([...args, '--db', database.url]);

      beforeEach(async () => {
        database = await createDatabase(dialect);
        fx = cliFixture();
        music = join(fx.dir, 'Music');
        mkdirSync(join(music, 'Artist', 'Album'), { recursive: true });
        writeFileSync(join(music, 'Artist', 'Album', '01 a.flac'), 'aaaa');
        writeFileSync(join(music, 'Artist', 'Album', '02 b.flac'), 'bb');
        writeFileSync(join(music, 'Artist', 'bio.txt'), 'x');
        mkdirSync(join(fx.dir, 'Music-other'));
        expect((await run(['scan', music])).code).toBe(0);
      });
      afterEach(async () => {
        fx?.close();
        await database?.drop();
      });

      it('ls, find and du of a folder inside the storage read that part of it', async () => {
        const artist = join(music, 'Artist');
        expect(paths(await run(['ls', artist, '--json']))).toEqual([
          '/Artist/Album',
          '/Artist/bio.txt',
        ]);
        expect(paths(await run(['ls', artist, 'Album', '--json']))).toEqual([
          '/Artist/Album/01 a.flac',
          '/Artist/Album/02 b.flac',
        ]);
        expect(
          paths(await run(['find', join(artist, 'Album'), '--name', '02*', '--json'])),
        ).toEqual(['/Artist/Album/02 b.flac']);
        const du = await run(['du', artist, '--json']);
        expect(du.code).toBe(0);
        expect(
          du.lines.map((l) => {
            const o = JSON.parse(l) as { path: string; files: number; bytes: number };
            return [o.path, o.files, o.bytes];
          }),
        ).toEqual([
          ['/Artist', 3, 7],
          ['/Artist/Album', 2, 6],
        ]);
        // A sibling that only shares the prefix is not inside.
        expectOneErrorLine(
          await run(['ls', join(fx.dir, 'Music-other')]),
          /nothing indexed for .*Music-other \(run: trawl scan /,
        );
        expectOneErrorLine(
          await run(['ls', join(artist, 'Nope')]),
          /nothing indexed at \/Artist\/Nope in /,
        );
      });

      it('find --absolute prints file system paths of a local storage', async () => {
        const r = await run(['find', music, '--ext', 'flac', '-0', '--absolute']);
        expect(r).toMatchObject({ code: 0, stderr: '' });
        expect(r.stdout).toBe(
          `${join(music, 'Artist', 'Album', '01 a.flac')}\0${join(music, 'Artist', 'Album', '02 b.flac')}\0`,
        );
      });

      it('scan of a folder inside refuses to make an overlapping storage, unless --new', async () => {
        const album = join(music, 'Artist', 'Album');
        const refused = await run(['scan', album]);
        expectOneErrorLine(
          refused,
          /is already inside storage (\S+) \(.*Music, at \/Artist\/Album\); scan \1 instead, or pass --new to register an overlapping storage$/,
        );
        const listed = await run(['storages', 'ls', '--json']);
        expect(listed.lines).toHaveLength(1);
        // A dry run registers nothing, so it may look.
        expect((await run(['scan', album, '--dry-run'])).code).toBe(0);
        const made = await run(['scan', album, '--new', '--json']);
        expect(made.code).toBe(0);
        expect(JSON.parse(made.lines[0]!)).toMatchObject({ status: 'succeeded', files: 2 });
        expect((await run(['storages', 'ls', '--json'])).lines).toHaveLength(2);
        // Once registered, it is a storage like any other: scanned again without --new, and
        // the deepest storage answers for a place inside both.
        expect((await run(['scan', album])).code).toBe(0);
        expect(paths(await run(['ls', album, '--json']))).toEqual(['/01 a.flac', '/02 b.flac']);
      });
    },
  );
}
