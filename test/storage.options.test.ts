import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../src/storage/errors.js';
import { BACKENDS, backendFor, type StorageKind } from '../src/storage/registry.js';
import { splitServiceOptions } from '../src/storage/limits/options.js';
import { parseStorageSpec } from '../src/storage/url.js';

/** A storage URL of each kind that parses, to which a test appends `?key=value`. */
const URLS: Record<StorageKind, string> = {
  local: 'file:///srv/media',
  memory: 'memory://vol',
  webdav: 'webdav://nas/dav',
  s3: 's3://bucket/photos',
  sftp: 'sftp://nas/srv',
  ftp: 'ftp://nas/pub',
  smb: 'smb://nas/share/dir',
};

/** Every kind's options reader fails the same way: named option, the value, what is allowed. */
function rejects(url: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseStorageSpec(url);
  } catch (error) {
    caught = error;
  }
  expect(caught, url).toBeInstanceOf(InvalidConfigError);
  expect((caught as Error).message, url).toMatch(message);
}

describe('storage options', () => {
  it.each([
    ['webdav', 'insecure'],
    ['s3', 'forcePathStyle'],
    ['sftp', 'insecureHostKey'],
    ['ftp', 'insecureTls'],
    ['local', 'followSymlinks'],
    ['local', 'readAhead'],
  ] as const)('%s rejects %s=banana instead of reading it as false', (kind, key) => {
    rejects(
      `${URLS[kind]}?${key}=banana`,
      new RegExp(`^Expected \`${key}\` to be true or false, got "banana"$`),
    );
  });

  it.each([
    ['webdav', 'timeoutMs', '5', 'from 100 to 3600000'],
    ['webdav', 'maxSockets', '0', 'from 1 and up'],
    ['webdav', 'maxResponseBytes', '1.5', 'from 1 and up'],
    ['s3', 'pageSize', '5000', 'from 1 to 1000'],
    ['s3', 'timeoutMs', '99', 'from 100 to 3600000'],
    ['sftp', 'port', '70000', 'from 1 to 65535'],
    ['sftp', 'timeoutMs', '4000000', 'from 100 to 3600000'],
    ['ftp', 'connections', '65', 'from 1 to 64'],
    ['smb', 'timeoutMs', 'soon', 'from 100 to 3600000'],
    ['local', 'threads', '0', 'from 1 and up'],
  ] as const)('%s rejects %s=%s', (kind, key, value, allowed) => {
    rejects(
      `${URLS[kind]}?${key}=${value}`,
      new RegExp(`^Expected \`${key}\` to be an integer ${allowed}, got "${value}"$`),
    );
  });

  it.each(Object.keys(URLS) as StorageKind[])(
    '%s rejects an unknown option, naming the ones it knows',
    (kind) => {
      rejects(
        `${URLS[kind]}?timeoutMS=5`,
        new RegExp(`^unknown ${kind} option \`timeoutMS\`; known: \\w+[, ]`),
      );
    },
  );

  it('names every webdav option when one is misspelt', () => {
    rejects(
      'webdav://host/?timeoutMS=5',
      /^unknown webdav option `timeoutMS`; known: url, username, password, timeoutMs, .*maxSockets, insecure, maxResponseBytes \(and the StorageService's maxConcurrency, limitKey, tenantMaxConcurrency, exclude\)$/,
    );
  });

  it('does not echo the value of an unknown option (a misspelt secret stays secret)', () => {
    expect(() => parseStorageSpec('sftp://nas/srv?pasword=hunter2')).toThrow(/`pasword`/);
    expect(() => parseStorageSpec('sftp://nas/srv?pasword=hunter2')).not.toThrow(/hunter2/);
  });

  it.each(Object.keys(URLS) as StorageKind[])(
    "%s accepts the StorageService's keys and its own parsed options again",
    (kind) => {
      const spec = parseStorageSpec(`${URLS[kind]}?maxConcurrency=4&limitKey=k`);
      expect(spec.options).toMatchObject({ maxConcurrency: 4, limitKey: 'k' });
      const backend = backendFor(kind);
      // What is stored is parsed again at every connect: with the service's keys taken out
      // (the StorageService) and as stored (a direct createClient).
      const again = backend.parseOptions(splitServiceOptions(spec.options).backend);
      expect(backend.location(again)).toBe(spec.location);
      expect(() => backend.parseOptions(spec.options)).not.toThrow();
    },
  );

  it('rejects an unknown key in stored options and on the local path flags', () => {
    expect(() => BACKENDS.s3.parseOptions({ bucket: 'b', forcePathstyle: true })).toThrow(
      /^unknown s3 option `forcePathstyle`; known: bucket, prefix, endpoint, forcePathStyle,/,
    );
    expect(() => parseStorageSpec('/srv', { followSymlink: true })).toThrow(
      /^unknown local option `followSymlink`; known: root, followSymlinks, threads, readAhead /,
    );
    expect(parseStorageSpec('/srv', { followSymlinks: true }).options).toMatchObject({
      followSymlinks: true,
    });
  });

  it('reads true and false spelt any accepted way, and the s3 default from the endpoint', () => {
    const insecure = (v: string) =>
      (parseStorageSpec(`webdavs://nas/dav?insecure=${v}`).options as { insecure: boolean })
        .insecure;
    expect(['true', '1', 'yes'].map(insecure)).toEqual([true, true, true]);
    expect(['false', '0', 'no', ''].map(insecure)).toEqual([false, false, false, false]);
    const pathStyle = (q: string) =>
      (parseStorageSpec(`s3://bucket${q}`).options as { forcePathStyle: boolean }).forcePathStyle;
    expect(pathStyle('')).toBe(false);
    expect(pathStyle('?endpoint=http%3A%2F%2F127.0.0.1%3A9000')).toBe(true);
    expect(pathStyle('?endpoint=http%3A%2F%2F127.0.0.1%3A9000&forcePathStyle=false')).toBe(false);
  });
});
