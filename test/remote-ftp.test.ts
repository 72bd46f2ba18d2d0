import { testUserAvailable } from './servers/system-user.js';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import { tempDir } from './support/harness.js';
import { startVsftpd } from './servers/vsftpd.js';
import { requireServices } from './servers/util.js';
import { remoteScanSuite } from './support/remote-scan.js';
import { listAll } from './support/list-all.js';

remoteScanSuite('ftp (vsftpd)', requireServices('vsftpd') && testUserAvailable(), async (root) => {
  const ftpd = await startVsftpd(root);
  const at = `${ftpd.host}:${ftpd.port}/`;
  return {
    url: `ftp://${ftpd.user}:${encodeURIComponent(ftpd.password)}@${at}`,
    bareUrl: `ftp://${ftpd.user}@${at}`,
    password: ftpd.password,
    kill: () => ftpd.process.kill(),
    stop: () => ftpd.stop(),
  };
});

describe.skipIf(!requireServices('vsftpd') || !testUserAvailable())(
  'ftp against vsftpd, a folder it may enter but not read',
  () => {
    it('is PERMISSION_DENIED, not the empty listing vsftpd reports as a success', async () => {
      const dir = tempDir('trawl-ftp-xonly-');
      chmodSync(dir.path, 0o755);
      const root = join(dir.path, 'root');
      mkdirSync(join(root, 'xonly'), { recursive: true });
      writeFileSync(join(root, 'xonly', 'kept.txt'), 'x');
      chmodSync(join(root, 'xonly'), 0o111);
      const ftpd = await startVsftpd(root);
      const client = ftpBackend.create(
        ftpBackend.parseOptions({
          host: ftpd.host,
          port: ftpd.port,
          user: ftpd.user,
          password: ftpd.password,
        }),
        { env: {} },
      );
      try {
        await client.connect();
        await expect(listAll(client.list('/xonly'))).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
        });
        expect((await listAll(client.list('/'))).map((e) => e.name)).toEqual(['xonly']);
      } finally {
        await client.close();
        await ftpd.stop();
        dir.cleanup();
      }
    }, 60_000);
  },
);
