/**
 * `trawl serve` as an operator runs it: a process of its own (from dist/: build first), on a
 * real socket, with the server's own WebDAV credentials in its environment. A tenant's
 * storage must never be sent them, and its log must never hold a password or a token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';

const REPO = resolve(import.meta.dirname, '..');
const ADMIN = 'serve-admin-token-0123456789abcdef';
const ENV_USER = 'operator';
const ENV_PASSWORD = 'env-pa55-never-sent';
const TENANT_PASSWORD = 'tenant-pa55-w0rd';

const ms = (...responses: string[]) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${responses.join('')}</D:multistatus>`;
const dir = (href: string) =>
  `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>` +
  `<D:getlastmodified>Mon, 02 Jan 2023 03:04:05 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
const file = (href: string) =>
  `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>5</D:getcontentlength>` +
  `<D:getlastmodified>Tue, 03 Jan 2023 04:05:06 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** A WebDAV folder of one file under any path, recording every request's Authorization. */
async function recordingDav(): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
      });
      const root = (req.url ?? '/').replace(/\/?$/, '/');
      const body = req.headers.depth === '0' ? ms(dir(root)) : ms(dir(root), file(`${root}a.txt`));
      res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, seen, server };
}

describe('trawl serve in a process of its own', () => {
  let dav: Awaited<ReturnType<typeof recordingDav>>;
  let child: ChildProcess;
  let base: string;
  let output = '';
  let stdout = '';
  let exited: Promise<number | null>;

  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await r.text();
    return {
      status: r.status,
      body: text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };

  beforeAll(async () => {
    expect(existsSync(join(REPO, 'dist', 'cli', 'main.js')), 'run `npm run build` first').toBe(
      true,
    );
    dav = await recordingDav();
    const db = join(tempDir('trawl-serve-').path, 'i.db');
    child = spawn(process.execPath, ['bin/trawl.js', 'serve', '--port', '0', '--db', db], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TRAWL_ADMIN_TOKEN: ADMIN,
        TRAWL_WEBDAV_USER: ENV_USER,
        TRAWL_WEBDAV_PASSWORD: ENV_PASSWORD,
        TRAWL_ALLOW_NETWORKS: '127.0.0.1/32',
        TRAWL_SECRET_KEY: '22'.repeat(32),
        // As much logging as there is: a secret would have every chance to show.
        TRAWL_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((r) => child.on('close', (code) => r(code)));
    child.stdout!.on('data', (d: Buffer) => ((stdout += d.toString()), (output += d.toString())));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    base = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening: ${output}`)), 20_000);
      child.stdout!.on('data', () => {
        // Its first line on stdout (logs go to stderr).
        const m = /^trawl serve: listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]!);
        }
      });
      void exited.then(() => reject(new Error(`exited: ${output}`)));
    });
  }, 60_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await exited;
    await new Promise((r) => dav?.server.close(r));
  });

  it("sends a tenant's storage none of the server's own credentials, and logs no secret", async () => {
    const t = await api(ADMIN, 'POST', '/v1/tenants', { name: 'acme' });
    expect(t.status).toBe(201);
    const k = await api(ADMIN, 'POST', '/v1/tenants/acme/tokens', { name: 'ci' });
    const token = k.json().token as string;

    // A storage registered without credentials: the server's must not fill them in.
    const anon = await api(token, 'POST', '/v1/storages', {
      url: `webdav://127.0.0.1:${dav.port}/anon`,
    });
    expect(anon.status, anon.body).toBe(201);
    expect(anon.json().secrets).toEqual([]);
    const id = anon.json().id as number;
    const test = await api(token, 'POST', `/v1/storages/${id}/test`);
    expect(test.json()).toMatchObject({ ok: true });
    const scan = (await api(token, 'POST', `/v1/storages/${id}/scans`)).json().scan as {
      id: number;
    };
    // The live stream, as a browser's EventSource reads it: the token in the URL.
    const events = await fetch(`${base}/v1/scans/${scan.id}/events?access_token=${token}`, {
      signal: AbortSignal.timeout(20_000),
    });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    const stream = await events.text(); // the server closes it after `end`
    expect(stream).toMatch(/event: end\ndata: \{[^\n]*"status":"succeeded"[^\n]*"files":1/);
    // The storage layer counts into the registry `/metrics` serves (the other commands'
    // metrics are no-ops: src/cli/context.ts).
    const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(20_000) });
    expect(await metrics.text()).toMatch(
      /^trawl_storage_requests_total\{kind="webdav",op="list",outcome="ok"\} [1-9]/m,
    );

    // The control: a storage with its own password does send it, so the recorder sees headers.
    const authd = await api(token, 'POST', '/v1/storages', {
      url: `webdav://bob:${TENANT_PASSWORD}@127.0.0.1:${dav.port}/authd`,
    });
    expect(authd.status, authd.body).toBe(201);
    expect(authd.body).not.toContain(TENANT_PASSWORD);
    const tested = await api(token, 'POST', `/v1/storages/${authd.json().id as number}/test`);
    expect(tested.json()).toMatchObject({ ok: true });

    const basic = (user: string, pw: string) =>
      `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
    const anonSeen = dav.seen.filter((s) => s.url.startsWith('/anon'));
    expect(anonSeen.length).toBeGreaterThanOrEqual(3); // test, scan's connect and listing
    expect(anonSeen.map((s) => s.authorization)).toEqual(anonSeen.map(() => undefined));
    expect(dav.seen.map((s) => s.authorization)).not.toContain(basic(ENV_USER, ENV_PASSWORD));
    const authdSeen = dav.seen.filter((s) => s.url.startsWith('/authd'));
    expect(authdSeen.map((s) => s.authorization)).toContain(basic('bob', TENANT_PASSWORD));

    // Stop it and read everything it ever printed.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const secret of [ENV_PASSWORD, TENANT_PASSWORD, token, ADMIN]) {
      expect(output.includes(secret), `the log holds ${secret.slice(0, 6)}…`).toBe(false);
    }
    // The request was logged — with its token redacted, not left out.
    expect(output).toContain(`/v1/scans/${scan.id}/events?access_token=[redacted]`);
  });
});
