/**
 * The web page of `trawl serve`: a fixed set of hand-written files from the package's `web/`
 * folder, read once at start-up. A URL never reaches the filesystem: a request names a key
 * of {@link FILES} or gets a 404, so there is no directory listing and no way out of `web/`.
 *
 * Caching: the page's asset URLs carry a version (a hash of every file), so assets are cached
 * for a year and a new release is fetched at once under its new version; the page itself
 * (`/`) is revalidated on every load (`no-cache` with an ETag), which is how a browser learns
 * the new version.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * `web/` at the package root: src/api/web.ts and its compiled dist/api/web.js (tsconfig.build's
 * rootDir is src/) are both two levels below it.
 */
const WEB_DIR = new URL('../../web/', import.meta.url);

/** Every file the page is made of, with its media type. Nothing else is served. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'scan.js': 'text/javascript; charset=utf-8',
  'storages.js': 'text/javascript; charset=utf-8',
  'storage.js': 'text/javascript; charset=utf-8',
  'browse.js': 'text/javascript; charset=utf-8',
  'search.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The page runs only its own scripts and styles (no inline code at all, so no
 * 'unsafe-inline'), talks only to its own origin, and cannot be framed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const PAGE_CACHE = 'no-cache';
const ASSET_CACHE = 'public, max-age=31536000, immutable';

interface Served {
  body: Buffer;
  type: string;
  etag: string;
}

/** Where the page's assets live: `/web/<version>/<file>`. */
export const ASSET_PREFIX = '/web/';

/**
 * Serves the page at `/` and its assets at `/web/<version>/<file>`, with the security headers
 * above on every answer. Registered by the API server: `await app.register(webPage)`.
 */
export async function webPage(app: FastifyInstance): Promise<void> {
  const raw = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) {
    raw.set(name, await readFile(fileURLToPath(new URL(name, WEB_DIR))));
  }
  const all = createHash('sha256');
  for (const [name, body] of raw) all.update(name).update('\0').update(body).update('\0');
  const version = all.digest('hex').slice(0, 12);

  const served = new Map<string, Served>();
  for (const [name, body] of raw) {
    // index.html names its assets /web/<file>; the served page asks for this release's copy.
    const text =
      name === 'index.html'
        ? Buffer.from(
            body.toString('utf8').replaceAll(`"${ASSET_PREFIX}`, `"${ASSET_PREFIX}${version}/`),
          )
        : body;
    served.set(name, { body: text, type: FILES[name]!, etag: etagOf(text) });
  }

  // The page is no part of the API: kept out of /openapi.json.
  const hidden = { schema: { hide: true } };
  app.get('/', hidden, (request, reply) =>
    send(request, reply, served.get('index.html')!, PAGE_CACHE),
  );

  app.get<{ Params: { version: string; file: string } }>(
    `${ASSET_PREFIX}:version/:file`,
    hidden,
    (request, reply) => {
      const { file } = request.params;
      const asset = file === 'index.html' ? undefined : served.get(file);
      if (!asset) {
        secure(reply);
        return reply
          .code(404)
          .send({ error: { code: 'NOT_FOUND', message: `no web asset named ${file}` } });
      }
      // A page loaded before an upgrade may ask for its old version: it gets today's file,
      // which must not be cached under the old name.
      const cache = request.params.version === version ? ASSET_CACHE : PAGE_CACHE;
      return send(request, reply, asset, cache);
    },
  );
}

function send(request: FastifyRequest, reply: FastifyReply, file: Served, cache: string) {
  secure(reply);
  reply.header('cache-control', cache).header('etag', file.etag);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

function secure(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}
