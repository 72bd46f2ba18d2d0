/**
 * Opening an FTP session: connect, TLS, login, settings. basic-ftp's `access()` does the
 * same steps in one call, which loses which step failed: a server without TLS answers
 * `AUTH TLS` with "530 Please login with USER and PASS." (vsftpd), and that 530 read as a
 * refused login (AUTH_FAILED) sent users to check a password that was right. Here each step
 * is its own, and a refused AUTH TLS says that the server does not offer TLS.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Client } from 'basic-ftp';
import { isFtpError } from './ftp-lib.js';
import { ProtocolError } from '../errors.js';

export interface FtpLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  tls: 'none' | 'explicit' | 'implicit';
  /** Checks the certificate unless set. */
  insecureTls: boolean;
  /** Resolves names for the TLS connect of implicit TLS (the SSRF guard's lookup). */
  lookup?: ConnectionOptions['lookup'];
  /** The server as messages name it (`ftp://nas:21`). */
  where: string;
}

/**
 * The TLS options for a control connection (and, through basic-ftp, its data connections).
 * SNI carries a host name only: an IP address there is against RFC 6066, and Node answers
 * it with a deprecation warning (DEP0123) on the user's stderr.
 */
export function ftpTlsOptions(o: Pick<FtpLogin, 'host' | 'insecureTls' | 'lookup'>) {
  return {
    rejectUnauthorized: !o.insecureTls,
    ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
    // Implicit TLS connects with tls.connect, not through a socket of basic-ftp's.
    ...(o.lookup ? { lookup: o.lookup } : {}),
  } satisfies ConnectionOptions;
}

/** Connects and logs in as basic-ftp's `access()` does (6.2.6), one step at a time. */
export async function ftpLogin(ftp: Client, o: FtpLogin): Promise<void> {
  const secure = ftpTlsOptions(o);
  if (o.tls === 'implicit') await ftp.connectImplicitTLS(o.host, o.port, secure);
  else await ftp.connect(o.host, o.port);
  if (o.tls === 'explicit') {
    try {
      // `host` keeps data connections' TLS on the same name (basic-ftp issue 166).
      await ftp.useTLS({ ...secure, host: o.host });
    } catch (error) {
      if (!isFtpError(error)) throw error;
      throw new ProtocolError(
        `${o.where} does not offer TLS: it answered AUTH TLS with "${error.message}"; ` +
          'use tls=none for plain FTP (the password then crosses the network readable), or ' +
          'tls=implicit (ftps://) if it takes TLS on a port of its own',
        { cause: error, retryable: false },
      );
    }
  }
  // UTF-8 before the login, for a user or password that is not ASCII; some servers refuse.
  await ftp.sendIgnoringError('OPTS UTF8 ON');
  await ftp.login(o.user, o.password);
  await ftp.useDefaultSettings();
}
