import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { containingStorage } from '../src/catalog/containing.js';
import {
  collectExtensions,
  collectKinds,
  orderOf,
  parseSize,
  parseType,
  parseWhen,
  sizeRange,
} from '../src/cli/query-options.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import type { StorageSpec } from '../src/storage/url.js';

function refused(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe('find flag readers', () => {
  it('reads sizes as fd does: + at least, - at most, decimal and binary units', () => {
    expect(parseSize('+1G')).toEqual({ op: '+', bytes: 1e9 });
    expect(parseSize('-10k')).toEqual({ op: '-', bytes: 10_000 });
    expect(parseSize('500')).toEqual({ op: '=', bytes: 500 });
    expect(parseSize('+1.5MiB')).toEqual({ op: '+', bytes: 1.5 * 2 ** 20 });
    expect(parseSize('2gb')).toEqual({ op: '=', bytes: 2e9 });
    expect(parseSize('3Ki')).toEqual({ op: '=', bytes: 3072 });
    expect(refused(() => parseSize('1X'))).toBe(
      'expected a size such as +1G, -10k or 500 (units k m g t, ki mi gi ti), got "1X"',
    );
    expect(refused(() => parseSize('big'))).toMatch(/got "big"/);
    expect(refused(() => parseSize('+'))).toMatch(/got "\+"/);
    expect(refused(() => parseSize('99999999999T'))).toBe('size too large: "99999999999T"');
  });

  it('turns several size bounds into one range', () => {
    expect(sizeRange([parseSize('+1k'), parseSize('-1M')])).toEqual({ min: 1000, max: 1e6 });
    expect(sizeRange([parseSize('+1k'), parseSize('+5k')])).toEqual({ min: 5000 });
    expect(sizeRange([parseSize('700')])).toEqual({ min: 700, max: 700 });
    expect(sizeRange([])).toEqual({});
  });

  it('reads ages back from now, and dates as UTC', () => {
    const now = Date.UTC(2026, 5, 15, 12);
    expect(parseWhen('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseWhen('12h', now)).toBe(now - 12 * 3_600_000);
    expect(parseWhen('30m', now)).toBe(now - 30 * 60_000);
    expect(parseWhen('2w', now)).toBe(now - 14 * 86_400_000);
    expect(parseWhen('1y', now)).toBe(now - 365 * 86_400_000);
    expect(parseWhen('2026-01-01', now)).toBe(Date.UTC(2026, 0, 1));
    expect(parseWhen('2026-01-01T08:30:00Z', now)).toBe(Date.UTC(2026, 0, 1, 8, 30));
    expect(parseWhen('2026-01-01 08:30+02:00', now)).toBe(Date.UTC(2026, 0, 1, 6, 30));
    expect(refused(() => parseWhen('yesterday', now))).toBe(
      'expected an age such as 7d, 12h, 30m, 2w (units s m h d w y) or a date such as 2026-01-01, got "yesterday"',
    );
    expect(refused(() => parseWhen('7 fortnights', now))).toMatch(/got "7 fortnights"/);
    expect(refused(() => parseWhen('2026-13-45', now))).toMatch(/got "2026-13-45"/);
  });

  it('reads comma lists of extensions and media kinds, repeatable', () => {
    expect(collectExtensions('mkv,.MP4', ['avi'])).toEqual(['avi', 'mkv', '.MP4']);
    expect(collectExtensions('tar.gz')).toEqual(['tar.gz']);
    expect(refused(() => collectExtensions('mkv,,mp4'))).toBe(
      'expected a comma-separated list, got "mkv,,mp4"',
    );
    expect(refused(() => collectExtensions('a/b'))).toBe(
      'expected an extension such as mkv, got "a/b"',
    );
    expect(collectKinds('video,audio')).toEqual(['video', 'audio']);
    expect(refused(() => collectKinds('movie'))).toBe(
      'expected a media kind (video, audio, image, subtitle), got "movie"',
    );
  });

  it('reads types and the natural order of each sort', () => {
    expect(parseType('f')).toBe(false);
    expect(parseType('d')).toBe(true);
    expect(refused(() => parseType('x'))).toBe('expected f (files) or d (directories), got "x"');
    expect(orderOf('path', false)).toBe('asc');
    expect(orderOf('name', false)).toBe('asc');
    expect(orderOf('size', false)).toBe('desc');
    expect(orderOf('mtime', true)).toBe('asc');
  });
});

describe(containingStorage.name, () => {
  const record = (id: number, kind: string, location: string): StorageRecord => ({
    id,
    tenantId: 1,
    name: `s${id}`,
    kind,
    location,
    options: {},
    version: 1,
    enabled: true,
    maxConcurrency: null,
  });
  const spec = (kind: string, location: string) => ({ kind, location, options: {} }) as StorageSpec;
  const records = [
    record(1, 'local', '/home/me/Music'),
    record(2, 'local', '/home/me/Music/Live'),
    record(3, 'sftp', 'sftp://nas:22/data'),
    record(4, 's3', 's3://b/photos?endpoint=http%3A%2F%2Fminio'),
    record(5, 'local', '/'),
    record(6, 'webdav', 'webdav://dav.example/remote.php/files'),
  ];
  const found = (kind: string, location: string) => {
    const c = containingStorage(records, spec(kind, location));
    return c && { id: c.record.id, path: c.path };
  };

  it('finds the deepest storage holding a place, and the place inside it', () => {
    expect(found('local', '/home/me/Music/Artist/Album')).toEqual({ id: 1, path: '/Artist/Album' });
    expect(found('local', '/home/me/Music/Live/2020')).toEqual({ id: 2, path: '/2020' });
    expect(found('local', '/etc')).toEqual({ id: 5, path: '/etc' });
    expect(found('sftp', 'sftp://nas:22/data/a%20b')).toEqual({ id: 3, path: '/a b' });
    expect(found('s3', 's3://b/photos/2020?endpoint=http%3A%2F%2Fminio')).toEqual({
      id: 4,
      path: '/2020',
    });
    expect(found('webdav', 'webdav://dav.example/remote.php/files/x')).toEqual({
      id: 6,
      path: '/x',
    });
  });

  it('finds nothing for a storage root itself, a sibling, or another kind or endpoint', () => {
    expect(found('local', '/home/me/Music')).toEqual({ id: 5, path: '/home/me/Music' });
    expect(found('local', '/home/me/Musical')).toEqual({ id: 5, path: '/home/me/Musical' });
    expect(found('sftp', 'sftp://nas:22/data')).toBeUndefined();
    expect(found('sftp', 'sftp://nas:22/database')).toBeUndefined();
    expect(found('ftp', 'sftp://nas:22/data/x')).toBeUndefined();
    expect(found('s3', 's3://b/photos/2020')).toBeUndefined();
    expect(found('sftp', 'sftp://other:22/data/x')).toBeUndefined();
  });
});
