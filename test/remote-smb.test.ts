import { testUserAvailable } from './servers/system-user.js';
import { startSamba } from './servers/samba.js';
import { requireServices } from './servers/util.js';
import { remoteScanSuite } from './support/remote-scan.js';

remoteScanSuite(
  'smb (Samba)',
  requireServices('smbd', 'smbpasswd') && testUserAvailable(),
  async (root) => {
    const samba = await startSamba(root);
    const at = `${samba.host}:${samba.port}/${samba.share}`;
    return {
      url: `smb://${samba.user}:${encodeURIComponent(samba.password)}@${at}`,
      bareUrl: `smb://${samba.user}@${at}`,
      password: samba.password,
      kill: () => samba.process.kill(),
      stop: () => samba.stop(),
    };
  },
);
