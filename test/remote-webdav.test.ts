import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WebdavClient,
  hrefPath,
  parseMultistatus,
  webdavBackend,
} from '../src/storage/backends/webdav.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { LOOPBACK, freePort, requireServices, runSync } from './servers/util.js';
import { tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A WebDAV server that answers whatever the test scripts, and records what it was sent. */
async function scriptedServer(handler: Handler) {
  const seen: Array<{ method: string; url: string; depth: string; body: string; socket: number }> =
    [];
  const sockets = new Map<object, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        depth: String(req.headers.depth),
        body,
        socket: sockets.get(req.socket)!,
      });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://${LOOPBACK}:${port}/dav`,
    seen,
    client: (extra: Record<string, unknown> = {}) =>
      new WebdavClient(
        webdavBackend.parseOptions({ url: `http://${LOOPBACK}:${port}/dav`, ...extra }),
      ),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const ms = (...responses: string[]) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${responses.join('')}</D:multistatus>`;
const dirResp = (href: string) =>
  `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>` +
  `<D:getlastmodified>Mon, 02 Jan 2023 03:04:05 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
const fileResp = (href: string, size: number) =>
  `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>${size}</D:getcontentlength>` +
  `<D:getlastmodified>Tue, 03 Jan 2023 04:05:06 GMT</D:getlastmodified><D:getetag>"e-${size}"</D:getetag></D:prop>` +
  `<D:status>HTTP/1.1 200 OK</D:status></D:propstat>` +
  `<D:propstat><D:prop><D:quota/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>`;

const send207 = (res: ServerResponse, body: string) => {
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
  res.end(body);
};

describe('WebDAV multistatus parsing', () => {
  it('decodes hrefs: spaces, %, #, &, non-ASCII, absolute URLs, collections without a slash', () => {
    const body = ms(
      dirResp('http://other-host:8080/dav/a%20dir/'),
      fileResp('/dav/a%20dir/100%25%20real.txt', 1),
      fileResp('/dav/a%20dir/hash%23tag.txt', 2),
      fileResp('/dav/a%20dir/a&amp;b.txt', 3),
      fileResp('https://x.example/dav/a%20dir/caf%C3%A9.txt', 4),
      fileResp('/dav/a%20dir/cafe%CC%81.txt', 5),
      dirResp('/dav/a%20dir/sub%20no%20slash'),
      fileResp('/dav/a%20dir/%2541%20stays.txt', 6),
      fileResp('/dav/a%20dir/&#x65e5;&#26412;.txt', 7),
    );
    const entries = parseMultistatus(body, '/dav/a dir', '/a dir');
    expect(entries.map((e) => [e.path, e.isDir, e.size])).toEqual([
      ['/a dir/100% real.txt', false, 1],
      ['/a dir/hash#tag.txt', false, 2],
      ['/a dir/a&b.txt', false, 3],
      ['/a dir/caf\u00e9.txt', false, 4],
      ['/a dir/cafe\u0301.txt', false, 5],
      ['/a dir/sub no slash', true, 0],
      ['/a dir/%41 stays.txt', false, 6],
      ['/a dir/日本.txt', false, 7],
    ]);
    expect(entries[0]).toMatchObject({ mtime: Date.UTC(2023, 0, 3, 4, 5, 6), etag: '"e-1"' });
    expect(entries[5]).toMatchObject({ mtime: Date.UTC(2023, 0, 2, 3, 4, 5) });
  });

  it('keeps a raw % that is not an escape rather than failing or mangling the name', () => {
    expect(hrefPath('/dav/100% raw/%zz')).toBe('/dav/100% raw/%zz');
    // Latin-1 bytes are not UTF-8: the run stays as the server wrote it.
    expect(hrefPath('/dav/%E9%41 %C3%A9')).toBe('/dav/%E9%41 é');
  });

  it('refuses entity expansion and external entities (any DOCTYPE)', () => {
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' +
      '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/&lol2;</D:href></D:response></D:multistatus>';
    expect(() => parseMultistatus(laughs, '/dav', '/')).toThrow(/DOCTYPE/);
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
      '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/&xxe;</D:href></D:response></D:multistatus>';
    expect(() => parseMultistatus(xxe, '/dav', '/')).toThrow(
      expect.objectContaining({ code: 'PROTOCOL' }),
    );
    const undefinedEntity = ms(fileResp('/dav/&nbsp;x', 1));
    expect(() => parseMultistatus(undefinedEntity, '/dav', '/')).toThrow(/entity/);
  });

  it('reads CDATA, comments and quoted attributes; refuses tags that do not nest', () => {
    const odd =
      '<?xml version="1.0"?><!-- hi --><m:multistatus xmlns:m="DAV:" x="a>b">' +
      '<m:response><m:href><![CDATA[/dav/a&b]]></m:href><m:propstat><m:prop>' +
      '<m:resourcetype><m:collection xmlns:m="DAV:" /></m:resourcetype>' +
      '<m:getcontentlength>9</m:getcontentlength></m:prop></m:propstat></m:response></m:multistatus>';
    expect(parseMultistatus(odd, '/dav', '/')).toMatchObject([
      { path: '/a&b', isDir: true, size: 0 },
    ]);
    const crossed = ms('<D:response><D:href>/dav/a</D:propstat></D:href></D:response>');
    expect(() => parseMultistatus(crossed, '/dav', '/')).toThrow(/not well-formed/);
    const unclosed = ms('<D:response><D:href>/dav/a</D:href>');
    expect(() => parseMultistatus(unclosed, '/dav', '/')).toThrow(/not well-formed/);
  });

  it('refuses a truncated document, a foreign child and a child with an error status', () => {
    const whole = ms(dirResp('/dav/'), fileResp('/dav/a', 1), fileResp('/dav/b', 2));
    expect(() => parseMultistatus(whole.slice(0, -40), '/dav', '/')).toThrow(/truncated/);
    expect(() => parseMultistatus(ms(fileResp('/dav/x/y/z', 1)), '/dav', '/')).toThrow(
      /not a direct child/,
    );
    const forbiddenChild = ms(
      '<D:response><D:href>/dav/secret</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>',
    );
    expect(() => parseMultistatus(forbiddenChild, '/dav', '/')).toThrow(/403/);
  });
});

describe('WebDAV client against a scripted server', () => {
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  const routes = new Map<string, Handler>();

  beforeAll(async () => {
    server = await scriptedServer((req, body, res) => {
      const route = routes.get(decodeURIComponent(req.url ?? ''));
      if (route) return route(req, body, res);
      if (req.url === '/dav/') return send207(res, ms(dirResp('/dav/'), fileResp('/dav/f', 1)));
      res.writeHead(404).end();
    });
  });
  afterAll(() => server.close());

  it('asks for four properties with Depth 1 over one kept-alive connection', async () => {
    const c = server.client();
    await c.connect();
    const before = server.seen.length;
    for (let i = 0; i < 3; i++) expect(await listAll(c.list('/'))).toHaveLength(1);
    const mine = server.seen.slice(before);
    expect(mine.map((r) => [r.method, r.depth])).toEqual(Array(3).fill(['PROPFIND', '1']));
    for (const prop of ['resourcetype', 'getcontentlength', 'getlastmodified', 'getetag']) {
      expect(mine[0]!.body).toContain(`<d:${prop}/>`);
    }
    expect(mine[0]!.body).not.toMatch(/allprop|propname/);
    expect(new Set(server.seen.map((r) => r.socket)).size).toBe(1);
    await c.close();
  });

  it('requests percent-encoded paths with a trailing slash', async () => {
    routes.set('/dav/a b/#%&é/', (_req, _body, res) =>
      send207(res, ms(dirResp('/dav/a%20b/%23%25%26%C3%A9/'))),
    );
    const c = server.client();
    await c.connect();
    expect(await listAll(c.list('/a b/#%&é'))).toEqual([]);
    expect(server.seen.at(-1)!.url).toBe('/dav/a%20b/%23%25%26%C3%A9/');
    await c.close();
  });

  it.each([
    [401, {}, { code: 'AUTH_FAILED', retryable: false }],
    [403, {}, { code: 'PERMISSION_DENIED', retryable: false }],
    [404, {}, { code: 'NOT_FOUND', retryable: false }],
    [405, {}, { code: 'INVALID_CONFIG', retryable: false }],
    [429, { 'Retry-After': '7' }, { code: 'RATE_LIMITED', retryable: true, retryAfterMs: 7000 }],
    [429, {}, { code: 'RATE_LIMITED', retryable: true, retryAfterMs: undefined }],
    [503, { 'Retry-After': '2' }, { code: 'UNAVAILABLE', retryable: true, retryAfterMs: 2000 }],
    [500, {}, { code: 'UNAVAILABLE', retryable: true }],
    [504, {}, { code: 'TIMEOUT', retryable: true }],
    [200, {}, { code: 'PROTOCOL' }],
    [301, { Location: '/elsewhere/' }, { code: 'PROTOCOL' }],
  ] as const)('maps HTTP %i to a typed error', async (status, headers, expected) => {
    routes.set(`/dav/s${status}/`, (_req, _body, res) => res.writeHead(status, headers).end('x'));
    const c = server.client();
    await c.connect();
    await expect(listAll(c.list(`/s${status}`))).rejects.toMatchObject(expected);
    await c.close();
  });

  it('keeps the connection after an error answer (no reconnect per 404 or 429)', async () => {
    routes.set('/dav/busy/', (_req, _body, res) =>
      res.writeHead(429, { 'Retry-After': '1' }).end('slow down, please'),
    );
    const c = server.client();
    await c.connect();
    await expect(listAll(c.list('/busy'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(listAll(c.list('/no-such'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await listAll(c.list('/'))).toHaveLength(1);
    const last = server.seen.slice(-4).map((r) => r.socket);
    expect(new Set(last).size).toBe(1);
    await c.close();
  });

  it('times out a server that never answers, and cancels on abort', async () => {
    routes.set('/dav/slow/', () => undefined);
    const c = server.client({ timeoutMs: 300 });
    await c.connect();
    await expect(listAll(c.list('/slow'))).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    const controller = new AbortController();
    const pending = listAll(c.list('/slow', { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    await c.close();
  });

  it('fails a listing whose connection drops mid-body, never returns it short', async () => {
    routes.set('/dav/cut/', (_req, _body, res) => {
      res.writeHead(207, { 'Content-Type': 'application/xml', 'Content-Length': '100000' });
      res.write(ms(dirResp('/dav/cut/'), fileResp('/dav/cut/a', 1)));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    routes.set('/dav/doctype/', (_req, _body, res) =>
      send207(
        res,
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">]>' +
          ms(fileResp('/dav/doctype/&a;', 1)).replace(/^<\?xml[^>]*>/, ''),
      ),
    );
    const c = server.client();
    await c.connect();
    await expect(listAll(c.list('/cut'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(listAll(c.list('/doctype'))).rejects.toMatchObject({ code: 'PROTOCOL' });
    await c.close();
  });

  it('maps a closed port to UNAVAILABLE', async () => {
    const port = await freePort();
    const c = new WebdavClient(webdavBackend.parseOptions({ url: `http://127.0.0.1:${port}/` }));
    await expect(c.connect()).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    await c.close();
  });

  it('sends Basic credentials from the options, or from the environment', async () => {
    routes.set('/dav/auth/', (req, _body, res) =>
      req.headers.authorization === `Basic ${Buffer.from('ann:s3cret:x').toString('base64')}`
        ? send207(res, ms(dirResp('/dav/auth/')))
        : res.writeHead(401).end(),
    );
    const viaEnv = webdavBackend.create(webdavBackend.parseOptions({ url: server.url }), {
      env: { TRAWL_WEBDAV_USER: 'ann', TRAWL_WEBDAV_PASSWORD: 's3cret:x' },
    });
    await viaEnv.connect();
    expect(await listAll(viaEnv.list('/auth'))).toEqual([]);
    await viaEnv.close();
    const wrong = server.client({ username: 'ann', password: 'nope' });
    await wrong.connect();
    await expect(listAll(wrong.list('/auth'))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await wrong.close();
  });
});

describe('webdav storage URLs', () => {
  it('reads webdav:// and webdavs:// URLs, keeping credentials out of the location', () => {
    const spec = parseStorageSpec(
      'webdav://ann:p%40ss%2Fw@nas.local:8080/dav/my%20files/?timeoutMs=5000&maxConcurrency=16',
    );
    expect(spec.kind).toBe('webdav');
    expect(spec.options).toMatchObject({
      url: 'http://nas.local:8080/dav/my%20files',
      username: 'ann',
      password: 'p@ss/w',
      timeoutMs: 5000,
    });
    expect(spec.location).toBe('webdav://ann@nas.local:8080/dav/my%20files');
    expect(spec.location).not.toContain('p%40ss');
    expect(webdavBackend.redact(spec.options as never)).toMatchObject({ password: '***' });

    const tls = parseStorageSpec('webdavs://host/remote.php/dav/files/ann');
    expect(tls.options).toMatchObject({ url: 'https://host/remote.php/dav/files/ann' });
    expect(tls.location).toBe('webdavs://host/remote.php/dav/files/ann');
  });

  it('names the bad value in configuration errors', () => {
    expect(() => parseStorageSpec('webdav://host/dav?timeoutMs=soon')).toThrow(
      /`timeoutMs`.*"soon"/,
    );
    expect(() => webdavBackend.parseOptions({ url: 'ftp://host/' })).toThrow(/http/);
  });
});

describe.skipIf(!requireServices('openssl'))('webdavs:// (HTTPS)', () => {
  it('refuses an untrusted certificate as INVALID_CONFIG, and lists with insecure=true', async () => {
    const dir = tempDir('trawl-webdavs-');
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    runSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    const server = createHttpsServer(
      { key: readFileSync(key), cert: readFileSync(cert) },
      (req, res) => {
        req.resume();
        req.on('end', () => send207(res, ms(dirResp('/dav/'), fileResp('/dav/tls.txt', 3))));
      },
    );
    await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
    const port = (server.address() as { port: number }).port;
    try {
      const spec = parseStorageSpec(`webdavs://127.0.0.1:${port}/dav`);
      const strict = webdavBackend.create(spec.options as never, { env: {} });
      await expect(strict.connect()).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
      await strict.close();
      const lax = webdavBackend.create(
        parseStorageSpec(`webdavs://127.0.0.1:${port}/dav?insecure=true`).options as never,
        { env: {} },
      );
      await lax.connect();
      expect(await listAll(lax.list('/'))).toMatchObject([{ path: '/tls.txt', size: 3 }]);
      await lax.close();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      dir.cleanup();
    }
  });
});
