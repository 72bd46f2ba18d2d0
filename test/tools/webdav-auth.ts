/**
 * A tiny WebDAV server on 127.0.0.1 that demands Basic auth: `/dav` holds one file,
 * `song.flac`. It counts requests that came with the right and the wrong credentials, so a
 * test sees which password a scan really sent.
 */
import { createServer } from 'node:http';
import { LOOPBACK } from '../servers/util.js';

export interface AuthDavServer {
  readonly port: number;
  /** `webdav://user@127.0.0.1:port/dav` (no password). */
  readonly storageUrl: string;
  /** The same with `:password`. */
  readonly urlWithPassword: string;
  readonly seen: { ok: number; refused: number };
  /** Every Authorization header received (to check none leaked elsewhere). */
  readonly authorizations: string[];
  close(): Promise<void>;
}

const FILE =
  '<D:response><D:href>/dav/song.flac</D:href><D:propstat><D:prop><D:resourcetype/>' +
  '<D:getcontentlength>7</D:getcontentlength><D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified>' +
  '</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>';
const ROOT =
  '<D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>' +
  '<D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified></D:prop>' +
  '<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>';

export async function startAuthDav(user: string, password: string): Promise<AuthDavServer> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const seen = { ok: 0, refused: 0 };
  const authorizations: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      authorizations.push(auth);
      if (auth !== expected) {
        seen.refused++;
        return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="dav"' }).end();
      }
      seen.ok++;
      const path = (req.url ?? '').split('?')[0]!.replace(/\/+$/, '');
      if (req.method !== 'PROPFIND' || path !== '/dav') return void res.writeHead(404).end();
      const depth = String(req.headers.depth ?? 'infinity');
      res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
      res.end(
        '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">' +
          ROOT +
          (depth === '1' ? FILE : '') +
          '</D:multistatus>\n',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    storageUrl: `webdav://${user}@${LOOPBACK}:${port}/dav`,
    urlWithPassword: `webdav://${user}:${encodeURIComponent(password)}@${LOOPBACK}:${port}/dav`,
    seen,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
