/**
 * Apache httpd with mod_dav serving a folder over WebDAV on 127.0.0.1, from a minimal
 * config in its own temporary ServerRoot (no apache2ctl, no system config): `/dav` needs
 * Basic auth, one directory under it answers 403, `/pub` serves the same folder without auth.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../support/harness.js';
import { findBinary, freePort, spawnServer, waitForPort, type ServerProcess } from './util.js';

const MODULES = '/usr/lib/apache2/modules';
const LOAD = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['authn_core_module', 'mod_authn_core.so'],
  ['authn_file_module', 'mod_authn_file.so'],
  ['auth_basic_module', 'mod_auth_basic.so'],
  ['authz_user_module', 'mod_authz_user.so'],
  ['alias_module', 'mod_alias.so'],
  ['dav_module', 'mod_dav.so'],
  ['dav_fs_module', 'mod_dav_fs.so'],
];

export interface ApacheOptions {
  /** Folder served at `/dav` (auth) and `/pub` (open). */
  root: string;
  /** Storage paths under the root (`/locked`) that answer 403. */
  forbidden?: string[];
  /** @default 'trawl' */
  user?: string;
  /** @default a password with characters that need URL encoding */
  password?: string;
  port?: number;
  /**
   * A file to log every request to, one line each: begin and end (epoch µs), method, the
   * `Depth` header, path, status — what a test needs to see from the server's side which
   * requests overlapped.
   */
  accessLog?: string;
}

export interface ApacheServer {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** `http://127.0.0.1:<port>/dav` (Basic auth). */
  readonly authUrl: string;
  /** `http://127.0.0.1:<port>/pub` (no auth). */
  readonly openUrl: string;
  readonly process: ServerProcess;
  logs(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export function apacheBinary(): string | undefined {
  return findBinary('apache2') ?? findBinary('httpd');
}

const quote = (path: string) => `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export async function startApache(options: ApacheOptions): Promise<ApacheServer> {
  const binary = apacheBinary();
  if (!binary) throw new Error('apache2 is not installed');
  const port = options.port ?? (await freePort());
  const user = options.user ?? 'trawl';
  const password = options.password ?? 'p@ss:w/rd %&#';
  const dir = tempDir('trawl-apache-');
  const asRoot = process.getuid?.() === 0;
  const lockDir = join(dir.path, 'lock');
  mkdirSync(lockDir);
  // The workers run as www-data when we are root: they must reach the served folder.
  chmodSync(dirname(options.root), 0o755);
  chmodSync(dir.path, 0o755);
  if (asRoot) chownSync(lockDir, 33, 33);

  const sha = createHash('sha1').update(password).digest('base64');
  writeFileSync(join(dir.path, 'htpasswd'), `${user}:{SHA}${sha}\n`);
  const root = options.root;
  // <Location> sections merge after <Directory> ones: only there does a deny win over
  // the auth requirement of /dav.
  const forbidden = (options.forbidden ?? []).flatMap((p) =>
    ['/dav', '/pub'].map(
      (prefix) => `<Location ${quote(prefix + p)}>\n  Require all denied\n</Location>`,
    ),
  );
  const conf = [
    `ServerRoot ${quote(dir.path)}`,
    `PidFile ${quote(join(dir.path, 'httpd.pid'))}`,
    `ServerName 127.0.0.1`,
    `Listen 127.0.0.1:${port}`,
    ...LOAD.map(([name, file]) => `LoadModule ${name} ${MODULES}/${file}`),
    ...(asRoot ? ['User www-data', 'Group www-data'] : []),
    `ErrorLog ${quote(join(dir.path, 'error.log'))}`,
    'LogLevel warn',
    ...(options.accessLog
      ? [
          `LogFormat "%{begin:usec}t %{end:usec}t %m %{Depth}i %U %>s" trawl`,
          `CustomLog ${quote(options.accessLog)} trawl`,
        ]
      : []),
    `DavLockDB ${quote(join(lockDir, 'davlock'))}`,
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 30',
    'Timeout 30',
    // Enough threads that a benchmark's concurrency never queues inside Apache.
    'StartServers 2',
    'ThreadsPerChild 32',
    'MaxRequestWorkers 128',
    `Alias /dav ${quote(root)}`,
    `Alias /pub ${quote(root)}`,
    `<Location /dav>`,
    '  Dav On',
    '  AuthType Basic',
    '  AuthName trawl',
    `  AuthUserFile ${quote(join(dir.path, 'htpasswd'))}`,
    '  Require valid-user',
    `</Location>`,
    `<Location /pub>`,
    '  Dav On',
    '  Require all granted',
    `</Location>`,
    `<Directory ${quote(root)}>`,
    '  AllowOverride None',
    '  Options None',
    `</Directory>`,
    ...forbidden,
    '',
  ].join('\n');
  const confPath = join(dir.path, 'httpd.conf');
  writeFileSync(confPath, conf);

  const proc = spawnServer('apache2', binary, ['-f', confPath, '-DFOREGROUND'], {
    env: { ...process.env, APACHE_RUN_DIR: dir.path, APACHE_LOG_DIR: dir.path },
  });
  const logs = () => {
    let errorLog = '';
    try {
      errorLog = readFileSync(join(dir.path, 'error.log'), 'utf8');
    } catch {
      // not written yet
    }
    return proc.logs() + errorLog;
  };
  try {
    await waitForPort(port, { process: proc });
  } catch (error) {
    await proc.kill();
    const message = `${(error as Error).message}\n${logs()}`;
    dir.cleanup();
    throw new Error(message);
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    user,
    password,
    authUrl: `${base}/dav`,
    openUrl: `${base}/pub`,
    process: proc,
    logs,
    async stop() {
      await proc.stop();
      dir.cleanup();
    },
    async kill() {
      await proc.kill();
    },
  };
}
