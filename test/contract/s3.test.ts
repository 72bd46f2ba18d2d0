import { s3Backend } from '../../src/storage/backends/s3-backend.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3rver } from '../servers/s3rver.js';
import { buildFixture } from './fixture.js';
import { runStorageContract } from './suite.js';

runStorageContract(
  's3 (s3rver)',
  async () => {
    const fixture = buildFixture();
    const server = await startS3rver({ fixture });
    const make = (overrides: Record<string, unknown> = {}) =>
      s3Backend.create(
        s3Backend.parseOptions({
          bucket: server.bucket,
          endpoint: server.endpoint,
          region: 'us-east-1',
          accessKeyId: S3RVER_KEY,
          secretAccessKey: S3RVER_SECRET,
          ...overrides,
        }),
        { env: {} },
      );
    return {
      fixture,
      makeClient: make,
      // LastModified is the object file's mtime, which the bucket builder set from the fixture.
      mtimePrecisionMs: 1000,
      // Directories are synthesised from prefixes: no mtime.
      dirMtimes: false,
      // s3rver does not verify SigV4 signatures, so a wrong secret passes; an unknown key id
      // is refused (InvalidAccessKeyId).
      badCredentials: { accessKeyId: 'NOT-A-KEY' },
      // s3rver has no per-prefix access control.
      locksDir: false,
      endpoint: { port: server.port, via: (port) => ({ endpoint: `http://127.0.0.1:${port}` }) },
      kill: () => server.kill(),
      async teardown() {
        await server.stop();
        fixture.cleanup();
      },
    };
  },
  { listTree: true, refusesDirs: false },
);
