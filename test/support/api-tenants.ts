/**
 * Two tenants for isolation tests: an owner with storages, scans, entries and cursors whose
 * every name and path carries a marker, and an intruder who owns a little of everything too
 * (so its answers are not empty by accident) and was made first — its ids are the smallest
 * of every table, so none of the owner's ids is also one of the intruder's own.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, scanEnded, type ApiFixture } from './api.js';
import { tempDir } from './harness.js';

export interface Owner {
  name: string;
  token: string;
  tenantId: number;
  /** In every name, path and location of the owner's: a body holding it leaks. */
  mark: string;
  /** A storage password of the owner's: never in any answer or log line. */
  secret: string;
  storageIds: number[];
  scanIds: number[];
  entryIds: number[];
  tokenIds: number[];
  cursors: string[];
  /** Directory paths, entry names, storage names, locations. */
  texts: string[];
}

export interface Intruder {
  token: string;
  storageId: number;
  scanId: number;
  /** Every storage and scan id the intruder owns (grows when a test registers one). */
  storages: Set<number>;
  scans: Set<number>;
}

type Json = Record<string, unknown>;

function tree(prefix: string, files: number): string {
  const root = tempDir(`trawl-iso-${prefix}-`).path;
  mkdirSync(join(root, `${prefix}-photos`, '2024'), { recursive: true });
  for (let i = 0; i < files; i++) {
    writeFileSync(join(root, `${prefix}-photos`, '2024', `${prefix} img ${i}.jpg`), 'x'.repeat(i));
  }
  writeFileSync(join(root, `${prefix}-notes.txt`), 'hello');
  return root;
}

async function ok(
  f: ApiFixture,
  token: string,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
) {
  const r = await f.call(token, method, url, body);
  if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
  return r.json<Json>();
}

async function scanned(f: ApiFixture, token: string, storageId: number): Promise<number> {
  const t = await ok(f, token, 'POST', `/v1/storages/${storageId}/scans`);
  const id = (t.scan as { id: number }).id;
  const end = await scanEnded(f, token, id);
  if (end.status !== 'succeeded') throw new Error(`scan ${id} ended ${String(end.status)}`);
  return id;
}

export async function intruderOf(f: ApiFixture): Promise<Intruder> {
  const { token } = await f.tenant('intruder');
  const s = await ok(f, token, 'POST', '/v1/storages', { url: tree('mine', 3) });
  const storageId = s.id as number;
  const scanId = await scanned(f, token, storageId);
  return { token, storageId, scanId, storages: new Set([storageId]), scans: new Set([scanId]) };
}

/** The owner's world, and every id, cursor and text it was shown. */
export async function ownerOf(f: ApiFixture): Promise<Owner> {
  const mark = `zq${randomBytes(4).toString('hex')}`;
  const name = `owner-${mark}`;
  const secret = `pw-${randomBytes(6).toString('hex')}`;
  const { token, id: tenantId } = await f.tenant(name);
  const o: Owner = {
    name,
    token,
    tenantId,
    mark,
    secret,
    storageIds: [],
    scanIds: [],
    entryIds: [],
    tokenIds: [],
    cursors: [],
    texts: [name],
  };
  const register = async (body: Json) => {
    const s = await ok(f, token, 'POST', '/v1/storages', body);
    o.storageIds.push(s.id as number);
    o.texts.push(s.name as string, s.location as string);
    return s.id as number;
  };
  const pics = await register({ url: tree(mark, 25), name: `${mark}-pics`, every: '6h' });
  const docs = await register({ url: tree(`${mark}-d`, 4), name: `${mark}-docs` });
  await register({ url: `webdav://alice:${secret}@dav.example.com/${mark}`, name: `${mark}-dav` });
  o.scanIds.push(await scanned(f, token, pics), await scanned(f, token, pics));
  o.scanIds.push(await scanned(f, token, docs));
  // Walk pages the way a client does, keeping every id, cursor and path shown.
  const walk = async (first: string) => {
    let url: string | undefined = first;
    while (url) {
      const page = await ok(f, token, 'GET', url);
      for (const e of page.items as Json[]) {
        o.entryIds.push(e.id as number);
        o.texts.push(e.path as string, e.name as string);
      }
      const next = page.next as string | null;
      if (next) o.cursors.push(next);
      url = next ? `${first}&cursor=${next}` : undefined;
    }
  };
  await walk(`/v1/storages/${pics}/entries?dir=/${mark}-photos/2024&limit=7`);
  await walk(`/v1/storages/${pics}/entries?dir=/${mark}-photos/2024&limit=9&sort=size&order=desc`);
  await walk(`/v1/storages/${docs}/entries?dir=/&limit=1`);
  await walk(`/v1/search?q=${mark}&limit=6&sort=mtime`);
  const tokens = await ok(f, ADMIN_TOKEN, 'GET', `/v1/tenants/${name}/tokens`);
  o.tokenIds = (tokens.items as Json[]).map((t) => t.id as number);
  o.entryIds = [...new Set(o.entryIds)];
  o.texts = [...new Set(o.texts)];
  return o;
}
