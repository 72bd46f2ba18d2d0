import { startVsftpd } from './servers/vsftpd.js';
import { requireServices } from './servers/util.js';
import { remoteScanSuite } from './support/remote-scan.js';

remoteScanSuite('ftp (vsftpd)', requireServices('vsftpd'), async (root) => {
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
