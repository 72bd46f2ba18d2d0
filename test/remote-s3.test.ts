import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import {
  S3StorageClient,
  mapS3Error,
  s3Backend,
  type S3Like,
  type S3Options,
} from '../src/storage/backends/s3.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { buildFixture, type Fixture } from './contract/fixture.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3rver, type S3rverServer } from './servers/s3rver.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

type Page = Partial<ListObjectsV2CommandOutput>;

/** An S3 that answers each ListObjectsV2 from a script, recording the inputs. */
function fakeS3(answer: (input: Record<string, unknown>, call: number) => Page) {
  const inputs: Array<Record<string, unknown>> = [];
  const fake: S3Like = {
    async listObjectsV2(input) {
      inputs.push(input as unknown as Record<string, unknown>);
      return answer(input as unknown as Record<string, unknown>, inputs.length) as never;
    },
    destroy() {},
  };
  const options: S3Options = {
    bucket: 'b',
    prefix: '',
    forcePathStyle: true,
    pageSize: 1000,
    timeoutMs: 1000,
    maxSockets: 4,
  };
  return { client: new S3StorageClient(options, async () => fake), inputs };
}

const obj = (Key: string, Size = 1) => ({ Key, Size, LastModified: new Date(1_700_000_000_000) });

describe('S3 listing logic', () => {
  it('fails with PROTOCOL when the server repeats a continuation token', async () => {
    const { client } = fakeS3((input) =>
      input.MaxKeys === 1
        ? { Contents: [] }
        : {
            Contents: [obj(`k${String(input.ContinuationToken)}`)],
            IsTruncated: true,
            NextContinuationToken: 'same',
          },
    );
    await client.connect();
    await expect(listAll(client.list('/'))).rejects.toMatchObject({ code: 'PROTOCOL' });
    await expect(listAll(client.list('/'))).rejects.toThrow(/repeated a continuation token/);
  });

  it('fails with PROTOCOL on a truncated page without a token', async () => {
    const { client } = fakeS3(() => ({ Contents: [obj('a')], IsTruncated: true }));
    await client.connect();
    await expect(listAll(client.list('/'))).rejects.toMatchObject({ code: 'PROTOCOL' });
  });

  it('joins pages, keeps a prefix over an object of the same name, skips markers and unrepresentable keys', async () => {
    const { client, inputs } = fakeS3((input) => {
      if (input.MaxKeys === 1) return {};
      if (input.Prefix === 'd/') return { Contents: [obj('d/')] };
      if (!input.ContinuationToken) {
        return {
          Contents: [obj('a', 3), obj('x.txt', 4)],
          CommonPrefixes: [{ Prefix: 'd/' }],
          IsTruncated: true,
          NextContinuationToken: 't1',
        };
      }
      return { CommonPrefixes: [{ Prefix: 'a/' }, { Prefix: '/' }], Contents: [obj('y', 5)] };
    });
    await client.connect();
    const entries = await listAll(client.list('/'));
    expect(entries.map((e) => [e.path, e.isDir, e.size]).sort()).toEqual([
      ['/a', true, 0],
      ['/d', true, 0],
      ['/x.txt', false, 4],
      ['/y', false, 5],
    ]);
    expect(inputs[1]).toMatchObject({ Bucket: 'b', Prefix: '', Delimiter: '/', MaxKeys: 1000 });
    // `d/` holds only its marker: an empty directory, not a missing one.
    expect(await listAll(client.list('/d'))).toEqual([]);
  });

  it('answers NOT_FOUND for a prefix with no keys and no marker', async () => {
    const { client } = fakeS3(() => ({}));
    await client.connect();
    await expect(listAll(client.list('/nothing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await listAll(client.list('/'))).toEqual([]);
  });

  it('builds a tree from a flat listing: parents first, each directory once', async () => {
    const { client } = fakeS3((input) => {
      if (input.MaxKeys === 1) return {};
      if (input.Delimiter) return { CommonPrefixes: [{ Prefix: 'p/' }], Contents: [obj('top')] };
      return {
        Contents: [obj('p/a-x'), obj('p/a/deep/f'), obj('p/a0'), obj('p/e/'), obj('p/a//bad')],
      };
    });
    await client.connect();
    const tree: Array<[string, string[]]> = [];
    for await (const l of client.listTree('/')) {
      tree.push([l.dir, l.entries.map((e) => `${e.name}${e.isDir ? '/' : ''}`).sort()]);
    }
    expect(tree).toEqual([
      ['/', ['p/', 'top']],
      ['/p', ['a-x', 'a/', 'a0', 'e/']],
      ['/p/a', ['deep/']],
      ['/p/a/deep', ['f']],
      ['/p/e', []],
    ]);
  });

  it('waits out a throttled page inside a tree listing, and gives up after its retries', async () => {
    let throttles = 1;
    const { client, inputs } = fakeS3((input) => {
      if (input.MaxKeys === 1) return {};
      if (input.Delimiter) return { CommonPrefixes: [{ Prefix: 'p/' }] };
      if (!input.ContinuationToken) {
        return { Contents: [obj('p/a')], IsTruncated: true, NextContinuationToken: 't' };
      }
      if (throttles-- > 0) {
        throw Object.assign(new Error('slow down'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
          $response: { headers: { 'retry-after': '0' } },
        });
      }
      return { Contents: [obj('p/b')] };
    });
    await client.connect();
    const names: string[] = [];
    for await (const l of client.listTree('/')) names.push(...l.entries.map((e) => e.path));
    expect(names.sort()).toEqual(['/p', '/p/a', '/p/b']);
    expect(inputs.filter((i) => i.ContinuationToken === 't')).toHaveLength(2);

    throttles = Infinity;
    const failing = async () => {
      for await (const _ of client.listTree('/')) void _;
    };
    await expect(failing()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it.each([
    [{ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, 'NOT_FOUND', false],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, 'PERMISSION_DENIED', false],
    [{ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }, 'AUTH_FAILED', false],
    [{ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'AUTH_FAILED', false],
    [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, 'RATE_LIMITED', true],
    [{ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, 'UNAVAILABLE', true],
    [{ name: 'TimeoutError' }, 'TIMEOUT', true],
    [{ name: 'Error', code: 'ECONNREFUSED' }, 'UNAVAILABLE', true],
    [{ name: 'PermanentRedirect', $metadata: { httpStatusCode: 301 } }, 'INVALID_CONFIG', false],
  ])('maps %o to %s', (native, code, retryable) => {
    expect(mapS3Error(native, '/x', 'S3')).toMatchObject({ code, retryable, path: '/x' });
  });

  it('reads a Retry-After from a throttling answer', () => {
    const e = mapS3Error(
      {
        name: 'SlowDown',
        $metadata: { httpStatusCode: 503 },
        $response: { headers: { 'retry-after': '3' } },
      },
      '/',
      'S3',
    );
    expect(e).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 3000 });
  });
});

describe('s3 storage URLs', () => {
  it('reads bucket, prefix, endpoint, region and credentials; the location has no secret', () => {
    const spec = parseStorageSpec(
      's3://AKIA1:se%2Fcret@media/photos/2024/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&maxConcurrency=16',
    );
    expect(spec.kind).toBe('s3');
    expect(spec.options).toMatchObject({
      bucket: 'media',
      prefix: 'photos/2024/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      accessKeyId: 'AKIA1',
      secretAccessKey: 'se/cret',
    });
    expect(spec.location).toBe('s3://media/photos/2024/?endpoint=http%3A%2F%2F127.0.0.1%3A9000');
    expect(JSON.stringify(s3Backend.redact(spec.options as S3Options))).not.toContain('se/cret');
    expect(parseStorageSpec('s3://bucket').options).toMatchObject({
      prefix: '',
      forcePathStyle: false,
    });
  });

  it('names the bad value in configuration errors', () => {
    expect(() => parseStorageSpec('s3://bkt?pageSize=5000')).toThrow(/`pageSize`.*"5000"/);
    expect(() => parseStorageSpec('s3://bkt?endpoint=nope')).toThrow(/endpoint.*"nope"/);
  });
});

describe('s3 storages on s3rver through App and the CLI', () => {
  let server: S3rverServer;
  let fixture: Fixture;
  let dir: { path: string; cleanup: () => void };
  const url = (credentials = `${S3RVER_KEY}:${S3RVER_SECRET}@`, path = '') =>
    `s3://${credentials}trawl-fixture${path}?endpoint=${encodeURIComponent(server.endpoint)}`;

  beforeAll(async () => {
    dir = tempDir('trawl-remote-s3-');
    fixture = buildFixture({ bigEntries: 1500 });
    server = await startS3rver({ fixture });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    fixture?.cleanup();
    dir?.cleanup();
  });

  it('scans a bucket by URL (flat tree listing, paginated) and lists the index by URL', async () => {
    const db = `${dir.path}/cli.db`;
    const scan = await runCli(['scan', url(), '--db', db, '--json']);
    expect(scan.stderr).toBe('');
    expect(scan.code).toBe(0);
    expect(JSON.parse(scan.stdout)).toMatchObject({
      status: 'succeeded',
      dirs: fixture.counts.dirs,
      files: fixture.counts.files,
      errors: 0,
    });
    const ls = await runCli(['ls', url(''), '/tree', '--db', db, '--json']);
    expect(ls.code).toBe(0);
    expect(
      ls.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).path),
    ).toEqual(['/tree/a', '/tree/x.mkv']);
    expect(scan.stdout + ls.stdout).not.toContain(S3RVER_SECRET + '@');
  });

  it('takes credentials from the environment, and scans a prefix as the root', async () => {
    const app = await App.open({
      database: `${dir.path}/env.db`,
      tenant: 'default',
      env: { AWS_ACCESS_KEY_ID: S3RVER_KEY, AWS_SECRET_ACCESS_KEY: S3RVER_SECRET },
    });
    try {
      const storage = await app.ensureStorage(parseStorageSpec(url('', '/deep/d01/d02')));
      const result = await app.scan(storage);
      expect(result).toMatchObject({ status: 'succeeded', dirs: 18, files: 1, errors: 0 });
    } finally {
      await app.close();
    }
  });

  it('changes nothing when the server is down at scan time', async () => {
    const app = await App.open({ database: `${dir.path}/down.db`, tenant: 'default', env: {} });
    try {
      const storage = await app.ensureStorage(parseStorageSpec(url()));
      const first = await app.scan(storage);
      expect(first.status).toBe('succeeded');
      await server.kill();
      const result = await app.scan(storage);
      expect(result).toMatchObject({ status: 'failed', created: 0, updated: 0, deleted: 0 });
      // UNAVAILABLE from a fresh client; through the service's live one it has been TIMEOUT.
      expect(result.errorSample[0]).toMatchObject({
        path: '/',
        code: expect.stringMatching(/^(UNAVAILABLE|TIMEOUT)$/),
      });
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      let count = 0;
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        if (!e.isDir) count++;
      }
      expect(count).toBe(fixture.counts.files);
    } finally {
      await app.close();
    }
  });
});
