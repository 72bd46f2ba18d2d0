/**
 * s3rver (an S3-compatible server in Node) as a child process on 127.0.0.1, serving a
 * bucket built straight from the fixture's expected listings in s3rver's on-disk layout
 * (`<key>._S3rver_object` files), so object LastModified is the fixture's mtime and 5,000
 * objects need no 5,000 uploads.
 *
 * It runs under `node --openssl-legacy-provider`: its continuation tokens use DES, and
 * paginated listings answer 500 without it (OpenSSL 3, in Node since 17, keeps DES in the
 * legacy provider only).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Fixture } from '../contract/fixture.js';
import { tempDir } from '../support/harness.js';
import { freePort, spawnServer, waitForPort, type ServerProcess } from './util.js';

export const S3RVER_KEY = 'S3RVER';
export const S3RVER_SECRET = 'S3RVER';

export interface S3rverServer {
  readonly port: number;
  readonly endpoint: string;
  readonly bucket: string;
  readonly process: ServerProcess;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export function s3rverScript(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}

function writeObject(bucketDir: string, key: string, size: number, mtime: number): void {
  const parts = key.split('/');
  const last = parts.pop()!;
  const folder = join(bucketDir, ...parts);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `${last}._S3rver_object`);
  const body = Buffer.alloc(size, 0x61);
  writeFileSync(file, body);
  writeFileSync(`${file}.md5`, createHash('md5').update(body).digest('hex'));
  const seconds = mtime / 1000;
  utimesSync(file, seconds, seconds);
}

/**
 * Writes the fixture as objects of `bucket`: one object per file, and a `dir/` marker
 * object for each directory without files of its own — empty ones (S3 has no directories;
 * a marker is how tools keep them) and ones holding only directories, because s3rver finds
 * common prefixes only one level below the listed prefix (real S3 needs no marker there).
 * Directories with files stay markerless, so both shapes are listed.
 */
export function writeBucketFromFixture(storeDir: string, bucket: string, fixture: Fixture): void {
  const bucketDir = join(storeDir, bucket);
  mkdirSync(bucketDir, { recursive: true });
  for (const [dir, entries] of fixture.dirs) {
    const prefix = dir === '/' ? '' : `${dir.slice(1)}/`;
    if (dir !== '/' && entries.every((e) => e.isDir)) writeObject(bucketDir, prefix, 0, Date.now());
    for (const e of entries) if (!e.isDir) writeObject(bucketDir, prefix + e.name, e.size, e.mtime);
  }
}

export async function startS3rver(
  options: { fixture?: Fixture; bucket?: string } = {},
): Promise<S3rverServer> {
  const bucket = options.bucket ?? 'trawl-fixture';
  const store = tempDir('trawl-s3rver-');
  if (options.fixture) writeBucketFromFixture(store.path, bucket, options.fixture);
  else mkdirSync(join(store.path, bucket));
  const port = await freePort();
  const proc = spawnServer('s3rver', process.execPath, [
    '--openssl-legacy-provider',
    s3rverScript(),
    '--directory',
    store.path,
    '--address',
    '127.0.0.1',
    '--port',
    String(port),
    '--silent',
  ]);
  try {
    await waitForPort(port, { process: proc });
  } catch (error) {
    await proc.kill();
    store.cleanup();
    throw error;
  }
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    process: proc,
    async stop() {
      await proc.stop();
      store.cleanup();
    },
    async kill() {
      await proc.kill();
    },
  };
}
