/**
 * An S3 "folder" is only a shared start of object keys: it has no modification time. The
 * index keeps 0 for it, and trawl shows none — not 1970-01-01, which reads as a real date.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_KEY, S3RVER_SECRET, startS3rver, type S3rverServer } from './servers/s3rver.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';

describe('s3 prefixes in trawl ls', () => {
  let server: S3rverServer;
  let dir: ReturnType<typeof tempDir>;
  const url = () =>
    `s3://${S3RVER_KEY}:${S3RVER_SECRET}@${server.bucket}?endpoint=${encodeURIComponent(server.endpoint)}`;

  beforeAll(async () => {
    dir = tempDir('trawl-s3-prefix-');
    server = await startS3rver({ bucket: 'prefix-time' });
    const s3 = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_SECRET },
    });
    for (const key of ['albums/a.flac', 'albums/live/b.flac', 'top.txt']) {
      await s3.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'abc' }));
    }
    s3.destroy();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  it('shows no time for a prefix, and the object times as they are', async () => {
    const db = join(dir.path, 'index.db');
    const scan = await runCli(['scan', url(), '--db', db, '--json']);
    expect(scan.stderr).toBe('');
    expect(JSON.parse(scan.stdout)).toMatchObject({ status: 'succeeded', dirs: 2, files: 3 });

    const json = await runCli(['ls', url(), '--db', db, '--json', '--recursive']);
    expect(json.code).toBe(0);
    const entries = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; mtime: string | null });
    const times = Object.fromEntries(entries.map((e) => [e.path, e.mtime]));
    expect(times['/albums']).toBeNull();
    expect(times['/albums/live']).toBeNull();
    // Objects keep their LastModified: today, give or take a clock.
    for (const path of ['/albums/a.flac', '/albums/live/b.flac', '/top.txt']) {
      expect(Math.abs(Date.parse(times[path]!) - Date.now())).toBeLessThan(3_600_000);
    }

    const human = await runCli(['ls', url(), '--db', db]);
    const line = human.stdout.split('\n').find((l) => l.endsWith(' /albums'));
    expect(line).toMatch(/^d +- +- +\/albums$/);
    expect(human.stdout).not.toContain('1970-01-01');
  });
});
