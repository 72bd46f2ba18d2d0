import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, skipDialect } from './support/databases.js';
import { apiFixture, scanEnded, type ApiFixture } from './support/api.js';
import { tempDir } from './support/harness.js';

function tree(files: number): string {
  const root = tempDir('trawl-api-tree-').path;
  mkdirSync(join(root, 'photos', '2024'), { recursive: true });
  for (let i = 0; i < files; i++)
    writeFileSync(join(root, 'photos', '2024', `img ${i}.jpg`), 'x'.repeat(i));
  writeFileSync(join(root, 'notes.txt'), 'hello');
  return root;
}

describe.each(DIALECTS)('the API on %s: storages and scans', async (dialect) => {
  const skip = await skipDialect(dialect);
  let f: ApiFixture;
  let token: string;
  beforeAll(async () => {
    if (skip) return;
    f = await apiFixture({ dialect });
    token = (await f.tenant('acme')).token;
  });
  afterAll(async () => {
    await f?.close();
  });

  it.skipIf(skip)('registers a storage, scans it, browses, searches and counts it', async () => {
    const root = tree(30);
    // No schedule yet: one given at creation is due at once (it never ran), and its scan would
    // race the trigger below.
    const made = await f.call(token, 'POST', '/v1/storages', { url: root, name: 'pics' });
    expect(made.statusCode).toBe(201);
    const storage = made.json<{ id: number; schedule: { every: string | null } }>();
    expect(storage.schedule.every).toBeNull();
    const t = await f.call(token, 'POST', `/v1/storages/${storage.id}/scans`);
    expect(t.statusCode).toBe(202);
    const { scan } = t.json<{ scan: { id: number; status: string } }>();
    expect(scan.status).toBe('queued');
    const end = await scanEnded(f, token, scan.id);
    expect(end).toMatchObject({ status: 'succeeded', files: 31, dirs: 2, created: 31 });
    const page = await f.call(
      token,
      'GET',
      `/v1/storages/${storage.id}/entries?dir=/photos/2024&limit=10&sort=size&order=desc`,
    );
    expect(page.statusCode).toBe(200);
    const body = page.json<{ items: { name: string; size: number }[]; next: string }>();
    expect(body.items.map((e) => e.size)).toEqual([29, 28, 27, 26, 25, 24, 23, 22, 21, 20]);
    const more = await f.call(
      token,
      'GET',
      `/v1/storages/${storage.id}/entries?dir=/photos/2024&limit=10&sort=size&order=desc&cursor=${body.next}`,
    );
    expect(more.json<{ items: { size: number }[] }>().items[0]!.size).toBe(19);
    const found = await f.call(token, 'GET', '/v1/search?q=IMG%201&kind=image');
    expect(
      found
        .json<{ items: { name: string }[] }>()
        .items.map((e) => e.name)
        .sort(),
    ).toEqual(['img 1.jpg', ...Array.from({ length: 10 }, (_, i) => `img 1${i}.jpg`)].sort());
    const stats = await f.call(token, 'GET', `/v1/storages/${storage.id}/stats`);
    expect(stats.json()).toMatchObject({ files: 31, dirs: 2 });
    const history = await f.call(token, 'GET', `/v1/storages/${storage.id}/scans`);
    expect(history.json<{ items: { id: number }[] }>().items.map((s) => s.id)).toEqual([scan.id]);
    // A schedule set after a scan is next due a period after that scan's start.
    const scheduled = await f.call(token, 'PATCH', `/v1/storages/${storage.id}`, { every: '6h' });
    expect(scheduled.json<{ schedule: { every: string } }>().schedule.every).toBe('6h');
    const bad = await f.call(token, 'PATCH', `/v1/storages/${storage.id}`, { every: '6 hours' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { field: 'body.every' } });
  });

  it.skipIf(skip)('counts a storage again once a scan changed its entries', async () => {
    const root = tree(5);
    const made = await f.call(token, 'POST', '/v1/storages', { url: root, name: 'counted' });
    const storage = made.json<{ id: number }>();
    const scanned = async () => {
      const t = await f.call(token, 'POST', `/v1/storages/${storage.id}/scans`);
      await scanEnded(f, token, t.json<{ scan: { id: number } }>().scan.id);
    };
    const stats = async () =>
      (await f.call(token, 'GET', `/v1/storages/${storage.id}/stats`)).json<{
        files: number;
        bytes: number;
      }>();
    await scanned();
    const before = { files: 6, bytes: 0 + 1 + 2 + 3 + 4 + 5 };
    expect(await stats()).toMatchObject(before);
    // Asked again with nothing changed: the same totals (kept, src/db/queries/stats-cache.ts).
    expect(await stats()).toMatchObject(before);
    writeFileSync(join(root, 'photos', '2024', 'new.jpg'), 'x'.repeat(100));
    writeFileSync(join(root, 'notes.txt'), 'hello, world');
    await scanned();
    expect(await stats()).toMatchObject({ files: 7, bytes: before.bytes - 5 + 12 + 100 });
  });

  it.skipIf(skip)('keeps secrets write-only: never in an answer, never in a log line', async () => {
    const secret = 'pa55-w0rd-sekr1t';
    const made = await f.call(token, 'POST', '/v1/storages', {
      url: `webdav://alice:${secret}@dav.example.com/files`,
      name: 'dav',
    });
    expect(made.statusCode).toBe(201);
    const s = made.json<{ id: number; secrets: string[]; options: Record<string, unknown> }>();
    expect(s.secrets).toEqual(['password']);
    expect(JSON.stringify(s)).not.toContain(secret);
    const patched = await f.call(token, 'PATCH', `/v1/storages/${s.id}`, {
      options: { password: `${secret}-2` },
    });
    expect(patched.statusCode).toBe(200);
    for (const url of ['/v1/storages', `/v1/storages/${s.id}`]) {
      expect((await f.call(token, 'GET', url)).body).not.toContain(secret);
    }
    // A bad option answers with its name, and no secret with it.
    const bad = await f.call(token, 'POST', '/v1/storages', {
      url: `webdav://alice:${secret}@dav2.example.com/files?insecure=banana`,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('insecure');
    expect(bad.body).not.toContain(secret);
    expect(f.logs.join('')).not.toContain(secret);
  });

  it.skipIf(skip)(
    'deduplicates triggers, refuses a disabled storage, and cancels a queued scan',
    async () => {
      // No runner: the scan waits, a second trigger joins it, and a cancel ends it.
      const g = await apiFixture({ dialect, runner: false });
      try {
        const me = (await g.tenant('waiting')).token;
        const s = (
          await g.call(me, 'POST', '/v1/storages', { url: tree(3), enabled: false })
        ).json<{
          id: number;
          enabled: boolean;
        }>();
        expect(s.enabled).toBe(false);
        expect((await g.call(me, 'POST', `/v1/storages/${s.id}/scans`)).statusCode).toBe(409);
        expect((await g.call(me, 'POST', `/v1/storages/${s.id}/enable`)).statusCode).toBe(200);
        type Triggered = { scan: { id: number }; deduplicated: boolean };
        const first = (await g.call(me, 'POST', `/v1/storages/${s.id}/scans`)).json<Triggered>();
        const second = (await g.call(me, 'POST', `/v1/storages/${s.id}/scans`)).json<Triggered>();
        expect(first.deduplicated).toBe(false);
        expect(second).toMatchObject({ deduplicated: true, scan: { id: first.scan.id } });
        const cancelled = await g.call(me, 'POST', `/v1/scans/${first.scan.id}/cancel`);
        expect(cancelled.statusCode).toBe(202);
        expect(cancelled.json()).toMatchObject({ status: 'cancelled', cancelRequested: true });
        const again = await g.call(me, 'POST', `/v1/scans/${first.scan.id}/cancel`);
        expect(again.statusCode).toBe(409);
        expect(again.json()).toMatchObject({ error: { code: 'FINISHED' } });
      } finally {
        await g.close();
      }
    },
  );

  it.skipIf(skip)('deletes a storage with its entries and scans', async () => {
    const root = tree(5);
    const s = (await f.call(token, 'POST', '/v1/storages', { url: root })).json<{ id: number }>();
    const { scan } = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
      scan: { id: number };
    }>();
    await scanEnded(f, token, scan.id);
    expect((await f.call(token, 'DELETE', `/v1/storages/${s.id}`)).statusCode).toBe(204);
    expect((await f.call(token, 'GET', `/v1/storages/${s.id}`)).statusCode).toBe(404);
    expect((await f.call(token, 'GET', `/v1/scans/${scan.id}`)).statusCode).toBe(404);
    const left = await f.app.index.db
      .selectFrom('entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('storage_id', '=', s.id)
      .executeTakeFirstOrThrow();
    expect(Number(left.n)).toBe(0);
  });
});
