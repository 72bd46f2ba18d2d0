import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalClient, localBackend, mapLocalError } from '../src/storage/backends/local.js';
import { StorageError } from '../src/storage/errors.js';
import { parseStorageSpec } from '../src/storage/url.js';
import {
  diskRows,
  indexRows,
  localFixture,
  tempDir,
  type LocalFixture,
} from './support/harness.js';
import { listAll } from './support/list-all.js';

async function listError(client: LocalClient, dir: string): Promise<StorageError> {
  const error: unknown = await listAll(client.list(dir)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('local backend: errors', () => {
  let fx: LocalFixture | undefined;
  let cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
    for (const c of cleanups.reverse()) c();
    cleanups = [];
  });

  function folder(): string {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    return tmp.path;
  }

  it('maps errno codes to typed storage errors in one place', () => {
    expect(mapLocalError('ENOENT', 'x', '/a')).toMatchObject({ code: 'NOT_FOUND', path: '/a' });
    expect(mapLocalError('ENOTDIR', 'x', '/a').code).toBe('NOT_FOUND');
    expect(mapLocalError('EACCES', 'x', '/a').code).toBe('PERMISSION_DENIED');
    expect(mapLocalError('EPERM', 'x', '/a').code).toBe('PERMISSION_DENIED');
    expect(mapLocalError('EMFILE', 'x', '/a')).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
    expect(mapLocalError('EIO', 'x', '/a').code).toBe('UNAVAILABLE');
    expect(mapLocalError('ENAMETOOLONG', 'x', '/a')).toMatchObject({
      code: 'PROTOCOL',
      retryable: false,
    });
  });

  it('answers NOT_FOUND for a directory removed after its parent was listed, and for a file', async () => {
    const root = folder();
    mkdirSync(join(root, 'gone'));
    writeFileSync(join(root, 'plain.txt'), 'x');
    const client = new LocalClient({ root, followSymlinks: false, threads: 1, readAhead: false });
    await client.connect();
    try {
      expect((await listAll(client.list('/'))).map((e) => e.name).sort()).toEqual([
        'gone',
        'plain.txt',
      ]);
      renameSync(join(root, 'gone'), join(root, 'moved'));
      expect(await listError(client, '/gone')).toMatchObject({ code: 'NOT_FOUND', path: '/gone' });
      expect((await listError(client, '/plain.txt')).code).toBe('NOT_FOUND');
      // One failing directory in a batch does not take the others down with it.
      const [bad, good] = await Promise.allSettled([
        listAll(client.list('/gone')),
        listAll(client.list('/moved')),
      ]);
      expect(bad.status).toBe('rejected');
      expect(good).toMatchObject({ status: 'fulfilled', value: [] });
    } finally {
      await client.close();
    }
  });

  it('fails a scan whose root is gone and changes nothing in the index', async () => {
    const parent = folder();
    const root = join(parent, 'root');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a/one.txt'), '1');
    fx = await localFixture(root);
    expect(await fx.scan()).toMatchObject({ status: 'succeeded', files: 1 });
    const before = await fx.indexed();
    renameSync(root, join(parent, 'elsewhere'));
    await fx.app.storage.release(fx.storage.id); // a fresh connect, as a later process would do
    const result = await fx.scan();
    expect(result.status).toBe('failed');
    expect(result.errorSample[0]).toMatchObject({ path: '/', code: 'NOT_FOUND' });
    expect(await fx.indexed()).toEqual(before);
  });

  it('reads options from a file:// URL and names a bad value in its error', () => {
    const spec = parseStorageSpec('file:///srv/my%20media?threads=3&readAhead=false');
    expect(spec).toMatchObject({
      kind: 'local',
      location: '/srv/my media',
      options: { root: '/srv/my media', threads: 3, readAhead: false, followSymlinks: false },
    });
    expect(() => parseStorageSpec('/srv', { threads: 0 })).toThrow(
      /Expected `threads` to be an integer from 1 and up, got 0/,
    );
    expect(() => parseStorageSpec('file:///srv?threads=two')).toThrow(/got "two"/);
  });

  it('rejects a root that is a file', async () => {
    const root = folder();
    writeFileSync(join(root, 'file'), 'x');
    const client = localBackend.create(localBackend.parseOptions({ root: join(root, 'file') }), {
      env: {},
    });
    await expect(client.connect()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await client.close();
  });

  it('rejects pending listings with UNAVAILABLE when the client closes', async () => {
    const root = folder();
    for (let i = 0; i < 2000; i++) writeFileSync(join(root, `f${i}`), '');
    const client = new LocalClient({ root, followSymlinks: false, threads: 1, readAhead: true });
    await client.connect();
    const pending = listAll(client.list('/')).then(
      () => undefined,
      (e: unknown) => e,
    );
    await client.close();
    expect(await pending).toMatchObject({ code: 'UNAVAILABLE' });
    await expect(listAll(client.list('/'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  // Tests run as root, and root reads every directory whatever its mode. So the scan runs in
  // a child process without the capabilities that let root override file modes (setpriv,
  // util-linux), where a mode-000 directory refuses root as it refuses anyone.
  it('keeps the entries of a directory it may not read and ends partial (PERMISSION_DENIED)', () => {
    const repo = resolve(import.meta.dirname, '..');
    expect(existsSync(join(repo, 'dist/cli/main.js')), 'run `npm run build` first').toBe(true);
    const root = folder();
    mkdirSync(join(root, 'open'));
    mkdirSync(join(root, 'closed'));
    writeFileSync(join(root, 'open/a.txt'), 'a');
    writeFileSync(join(root, 'closed/secret.txt'), 's');
    chmodSync(join(root, 'closed'), 0o000);
    cleanups.push(() => chmodSync(join(root, 'closed'), 0o700));
    const trawl = [
      join(repo, 'bin/trawl.js'),
      'scan',
      root,
      '--db',
      join(folder(), 'i.db'),
      '--json',
    ];
    const asRoot = process.getuid?.() === 0;
    const setpriv = '/usr/bin/setpriv';
    if (asRoot && !existsSync(setpriv)) {
      throw new Error('running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE');
    }
    const run = asRoot
      ? spawnSync(
          setpriv,
          ['--bounding-set', '-dac_override,-dac_read_search', process.execPath, ...trawl],
          { encoding: 'utf8' },
        )
      : spawnSync(process.execPath, trawl, { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(2);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'partial', dirs: 2, files: 1, errors: 1 });
    expect(result.errorSample).toEqual([
      expect.objectContaining({ path: '/closed', code: 'PERMISSION_DENIED' }),
    ]);
  });

  it('sees a change below a depth-limited scan on the next full scan (nothing read ahead goes stale)', async () => {
    const root = folder();
    mkdirSync(join(root, 'a/b/c'), { recursive: true });
    writeFileSync(join(root, 'a/b/c/old.txt'), 'old');
    fx = await localFixture(root);
    expect(await fx.scan({ maxDepth: 2 })).toMatchObject({ status: 'succeeded', dirs: 2 });
    writeFileSync(join(root, 'a/b/c/new.txt'), 'new');
    writeFileSync(join(root, 'a/b/new.txt'), 'new');
    expect(await fx.scan()).toMatchObject({ status: 'succeeded', dirs: 3, files: 3, created: 3 });
    expect(indexRows(await fx.indexed())).toEqual(diskRows(root));
  });
});
