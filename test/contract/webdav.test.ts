import { webdavBackend } from '../../src/storage/backends/webdav-backend.js';
import { WebdavClient } from '../../src/storage/backends/webdav.js';
import { apacheBinary, startApache } from '../servers/apache.js';
import { buildFixture } from './fixture.js';
import { runStorageContract } from './suite.js';

runStorageContract(
  'webdav (Apache mod_dav)',
  async () => {
    const fixture = buildFixture();
    const apache = await startApache({ root: fixture.root, forbidden: [fixture.lockedDir] });
    const url = new URL(apache.authUrl);
    const make = (overrides: Record<string, unknown> = {}) =>
      new WebdavClient(
        webdavBackend.parseOptions({
          url: apache.authUrl,
          username: apache.user,
          password: apache.password,
          ...overrides,
        }),
      );
    return {
      fixture,
      makeClient: make,
      mtimePrecisionMs: 1000,
      dirMtimes: true,
      badCredentials: { password: 'wrong' },
      locksDir: true,
      endpoint: {
        port: apache.port,
        via: (port) => ({ url: `http://127.0.0.1:${port}${url.pathname}` }),
      },
      kill: () => apache.kill(),
      async teardown() {
        await apache.stop();
        fixture.cleanup();
      },
    };
  },
  { requires: [apacheBinary() ?? 'apache2'] },
);
