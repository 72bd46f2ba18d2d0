import { webdavBackend } from '../../src/storage/backends/webdav-backend.js';
import { WebdavClient } from '../../src/storage/backends/webdav.js';
import { startRcloneWebdav } from '../servers/rclone.js';
import { buildFixture } from './fixture.js';
import { runStorageContract } from './suite.js';

runStorageContract(
  'webdav (rclone serve webdav)',
  async () => {
    const fixture = buildFixture();
    const server = await startRcloneWebdav({ root: fixture.root });
    const make = (overrides: Record<string, unknown> = {}) =>
      new WebdavClient(
        webdavBackend.parseOptions({
          url: server.url,
          username: server.user,
          password: server.password,
          ...overrides,
        }),
      );
    return {
      fixture,
      makeClient: make,
      mtimePrecisionMs: 1000,
      dirMtimes: true,
      badCredentials: { password: 'wrong' },
      // rclone answers a directory it cannot read with an empty 207 listing, not an error
      // (measured: chmod 000, rclone as nobody). No client can tell that from an empty
      // directory, so this flavour is not asked to refuse one.
      locksDir: false,
      endpoint: { port: server.port, via: (port) => ({ url: `http://127.0.0.1:${port}` }) },
      kill: () => server.kill(),
      async teardown() {
        await server.stop();
        fixture.cleanup();
      },
    };
  },
  { requires: ['rclone'], refusesDirs: false },
);
