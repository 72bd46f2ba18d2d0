import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, webPage } from '../src/api/web.js';

const WEB = resolve(import.meta.dirname, '..', 'web');

describe(webPage.name, () => {
  let app: FastifyInstance;
  let assets: string[];

  beforeAll(async () => {
    app = Fastify();
    await app.register(webPage);
    await app.ready();
    const page = await app.inject('/');
    assets = [...page.body.matchAll(/"(\/web\/[^"]+)"/g)].map((m) => m[1]!);
  });
  afterAll(() => app.close());

  it('serves the page with a strict CSP and the security headers', async () => {
    const res = await app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).not.toMatch(/<script>|<style>| style=| on[a-z]+=/i);
  });

  it('names its assets under one release version and caches them for good', async () => {
    expect(assets.length).toBeGreaterThanOrEqual(3);
    const versions = new Set(assets.map((a) => a.split('/')[2]));
    expect(versions.size).toBe(1);
    for (const asset of assets) {
      const res = await app.inject(asset);
      expect(res.statusCode, asset).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    }
    const js = await app.inject(assets.find((a) => a.endsWith('/app.js'))!);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('serves every module the page imports, and every file of web/', async () => {
    const version = assets[0]!.split('/')[2];
    const files = await readdir(WEB);
    for (const file of files) {
      const res = await app.inject(`/web/${version}/${file}`);
      // index.html is the page at /, not an asset.
      expect(res.statusCode, file).toBe(file === 'index.html' ? 404 : 200);
      if (!file.endsWith('.js')) continue;
      const source = await readFile(join(WEB, file), 'utf8');
      for (const [, imported] of source.matchAll(/from '\.\/([^']+)'/g)) {
        expect(files, `${file} imports ${imported}`).toContain(imported);
      }
    }
  });

  it('answers a revalidation with 304 when nothing changed', async () => {
    const first = await app.inject('/');
    const again = await app.inject({ url: '/', headers: { 'if-none-match': first.headers.etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves a file of an older version without caching it under that name', async () => {
    const res = await app.inject('/web/000000000000/app.js');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('never reads a path it was not given in its list', async () => {
    for (const url of [
      '/web/v/..%2F..%2Fpackage.json',
      '/web/v/%2e%2e%2fpackage.json',
      '/web/v/../../package.json',
      '/web/v/nothing.js',
      '/web/v/',
      '/web/',
      '/web/v/__proto__',
      '/web/v/constructor',
    ]) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).not.toContain('"name": "trawl"');
    }
  });
});
