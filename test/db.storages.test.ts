import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { CatalogError } from '../src/catalog/errors.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import type { Dialect } from '../src/db/dialect.js';
import { SecretError, secretKey } from '../src/secrets/cipher.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { parseStorageSpec } from '../src/storage/url.js';
import {
  DIALECTS,
  createDatabase,
  skipDialect,
  withPg,
  type TestDatabase,
} from './support/databases.js';
import { migrateTo } from './support/older-index.js';

const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const hex = () => randomBytes(32).toString('hex');
const keyId = (h: string) => secretKey(Buffer.from(h, 'hex')).id;
const withPassword = (password = PASSWORD) =>
  parseStorageSpec(`webdav://alice:${password}@nas.example:8080/dav?timeoutMs=5000`);
const withoutPassword = () =>
  parseStorageSpec('webdav://alice@nas.example:8080/dav?timeoutMs=5000');

/** Everything the database holds, as text: the SQLite files byte for byte, or every PG row. */
async function rawText(db: TestDatabase): Promise<string> {
  if (db.dialect === 'sqlite') {
    return ['', '-wal', '-shm', '-journal']
      .map((suffix) => `${db.url}${suffix}`)
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('\n');
  }
  return withPg(db.url, async (c) => {
    const tables = ['storages', 'scans', 'entries', 'tenants'];
    const parts = await Promise.all(
      tables.map((t) => c.query(`SELECT row_to_json(x)::text AS j FROM ${t} x`)),
    );
    return parts.flatMap((p) => p.rows.map((r: { j: string }) => r.j)).join('\n');
  });
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`storages and their secrets on ${dialect}`, () => {
    const open: App[] = [];
    const dbs: TestDatabase[] = [];
    afterEach(async () => {
      for (const app of open.splice(0)) await app.close().catch(() => undefined);
      for (const db of dbs.splice(0)) await db.drop();
    });
    const fresh = async () => {
      const db = await createDatabase(dialect);
      dbs.push(db);
      return db;
    };
    /** Embedded keeps its key file beside the index; a fleet must be given a key. */
    const keyEnv = (key: string | undefined): NodeJS.ProcessEnv =>
      key === undefined ? {} : { TRAWL_SECRET_KEY: key };
    const appOn = async (db: TestDatabase, env: NodeJS.ProcessEnv = {}) => {
      const app = await App.open({ database: db.url, tenant: 'default', env });
      open.push(app);
      return app;
    };
    const fleetKey = dialect === 'postgres' ? hex() : undefined;

    it('seals the password: nowhere in the database, opened only for the lookup', async () => {
      const db = await fresh();
      const app = await appOn(db, keyEnv(fleetKey));
      const added = await app.catalog.add(app.tenantId, withPassword(), { name: 'nas' });
      expect(JSON.stringify(added)).not.toContain(PASSWORD);
      expect((added.options as Record<string, unknown>).password).toMatchObject({
        $secret: expect.stringMatching(/^v1\./),
      });
      expect(JSON.stringify(await app.catalog.list(app.tenantId))).not.toContain(PASSWORD);
      expect(JSON.stringify(await app.index.storages.get(added.id))).not.toContain(PASSWORD);
      expect((await app.catalog.opened(added.id))?.options).toMatchObject({ password: PASSWORD });
      await app.close();
      const raw = await rawText(db);
      expect(raw).toContain('$secret');
      expect(raw).not.toContain(PASSWORD);
      if (dialect === 'sqlite') {
        expect(statSync(join(dirname(db.url), 'secret.key')).mode & 0o777).toBe(0o600);
      }
    });

    it('keeps the stored password when a URL is scanned again without it', async () => {
      const db = await fresh();
      const app = await appOn(db, keyEnv(fleetKey));
      const first = await app.ensureStorage(withPassword());
      const again = await app.ensureStorage(withoutPassword());
      expect(again.id).toBe(first.id);
      expect(again.version).toBe(first.version); // nothing changed: no reconnect
      expect(again.options).toEqual(first.options); // not even the ciphertext
      expect((await app.catalog.opened(first.id))?.options).toMatchObject({ password: PASSWORD });
      const changed = await app.ensureStorage(withPassword('Other-Pw-1'));
      expect(changed.version).toBe(first.version + 1);
      expect((await app.catalog.opened(first.id))?.options).toMatchObject({
        password: 'Other-Pw-1',
      });
      const timeout = await app.ensureStorage(
        parseStorageSpec('webdav://alice@nas.example:8080/dav?timeoutMs=9000'),
      );
      expect(timeout.version).toBe(first.version + 2);
      expect((await app.catalog.opened(first.id))?.options).toMatchObject({
        password: 'Other-Pw-1',
        timeoutMs: 9000,
      });
    });

    it('fails clearly with a wrong key, and with none in a fleet', async () => {
      const db = await fresh();
      const key = hex();
      const app = await appOn(db, { TRAWL_SECRET_KEY: key });
      const added = await app.catalog.add(app.tenantId, withPassword(), { name: 'nas' });
      await app.close();
      const wrong = hex();
      const other = await appOn(db, { TRAWL_SECRET_KEY: wrong });
      const opening = other.catalog.opened(added.id);
      await expect(opening).rejects.toThrow(SecretError);
      await expect(other.catalog.opened(added.id)).rejects.toThrow(
        `storage nas: the stored secret \`password\` was sealed with key ${keyId(key)}, but the keys configured are ${keyId(wrong)}`,
      );
      // What needs no secret still works without the key.
      expect((await other.catalog.list(other.tenantId)).map((s) => s.name)).toEqual(['nas']);
      if (dialect === 'postgres') {
        const none = await appOn(db, {});
        await expect(none.catalog.opened(added.id)).rejects.toThrow(/no key is configured/);
        await expect(
          none.catalog.add(
            none.tenantId,
            parseStorageSpec('webdav://bob:x-1234@other.example/dav'),
            { name: 'b' },
          ),
        ).rejects.toThrow(/^no key to seal secrets with: set TRAWL_SECRET_KEY/);
        // Nothing written: the failed add left no row.
        expect(await none.catalog.findByName(none.tenantId, 'b')).toBeUndefined();
      }
    });

    it('rotates: every secret sealed under the new key, the old one no longer needed', async () => {
      const db = await fresh();
      const oldKey = fleetKey ?? undefined;
      const app = await appOn(db, keyEnv(oldKey));
      const a = await app.catalog.add(app.tenantId, withPassword(), { name: 'a' });
      await app.catalog.add(
        app.tenantId,
        parseStorageSpec('s3://bucket/p?endpoint=http://127.0.0.1:9&region=x', {
          accessKeyId: 'AK',
          secretAccessKey: 'SecretAK-42',
        }),
        { name: 'b' },
      );
      await app.close();
      let after: NodeJS.ProcessEnv;
      if (dialect === 'sqlite') {
        const before = readFileSync(join(dirname(db.url), 'secret.key'), 'utf8');
        const rotating = await appOn(db);
        const result = await rotating.catalog.rotate();
        expect(result).toMatchObject({ storages: 2, secrets: 2 });
        expect(result.retired).toHaveLength(1);
        await rotating.close();
        const now = readFileSync(join(dirname(db.url), 'secret.key'), 'utf8');
        const lines = (t: string) => t.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l));
        expect(lines(now)).toHaveLength(1);
        expect(lines(before)).not.toContain(lines(now)[0]);
        expect(keyId(lines(now)[0]!)).toBe(result.keyId);
        after = { TRAWL_SECRET_KEY: lines(now)[0]! };
      } else {
        const newKey = hex();
        const rotating = await appOn(db, {
          TRAWL_SECRET_KEY: newKey,
          TRAWL_SECRET_KEYS_PREVIOUS: oldKey!,
        });
        expect(await rotating.catalog.rotate()).toEqual({
          keyId: keyId(newKey),
          storages: 2,
          secrets: 2,
          retired: [keyId(oldKey!)],
        });
        await rotating.close();
        after = { TRAWL_SECRET_KEY: newKey };
      }
      // Only the new key: everything opens.
      const later = await appOn(db, after);
      expect((await later.catalog.opened(a.id))?.options).toMatchObject({ password: PASSWORD });
      const b = await later.catalog.byName(later.tenantId, 'b');
      expect((await later.catalog.opened(b.id))?.options).toMatchObject({
        secretAccessKey: 'SecretAK-42',
      });
      const raw = await rawText(db);
      expect(raw).not.toContain(PASSWORD);
      expect(raw).not.toContain('SecretAK-42');
    });

    it('manages storages by name: unique per tenant, edit bumps the version, rm takes everything', async () => {
      const db = await fresh();
      const app = await appOn(db, keyEnv(fleetKey));
      const nas = await app.catalog.add(app.tenantId, withPassword(), {
        schedule: { everyMs: 6 * 3_600_000 },
        maxConcurrency: 3,
      });
      expect(nas.name).toBe('nas.example-dav');
      expect(nas).toMatchObject({
        scheduleEveryMs: 21_600_000,
        scheduleCron: null,
        maxConcurrency: 3,
      });
      await expect(
        app.catalog.add(app.tenantId, parseStorageSpec('memory://v'), { name: nas.name }),
      ).rejects.toThrow(CatalogError);
      await expect(app.catalog.add(app.tenantId, withoutPassword())).rejects.toThrow(
        /is registered already, as "nas.example-dav"/,
      );
      const renamed = await app.catalog.edit(app.tenantId, nas.name, { name: 'nas' });
      expect(renamed.version).toBe(nas.version);
      const edited = await app.catalog.edit(app.tenantId, 'nas', {
        set: { timeoutMs: '7000' },
        schedule: { cron: '0 3 * * *' },
      });
      expect(edited.version).toBe(nas.version + 1);
      expect(edited).toMatchObject({ scheduleEveryMs: null, scheduleCron: '0 3 * * *' });
      expect((await app.catalog.opened(nas.id))?.options).toMatchObject({
        password: PASSWORD,
        timeoutMs: 7000,
      });
      await expect(
        app.catalog.edit(app.tenantId, 'nas', { set: { insecure: 'banana' } }),
      ).rejects.toThrow('Expected `insecure` to be true or false, got "banana"');
      const disabled = await app.catalog.setEnabled(app.tenantId, 'nas', false);
      expect(disabled).toMatchObject({ enabled: false, version: edited.version + 1 });

      const scope = { tenantId: app.tenantId, storageId: nas.id };
      await app.index.scans.start(scope, {});
      expect(await app.index.scans.list({ tenantId: app.tenantId })).toHaveLength(1);
      await app.catalog.remove(app.tenantId, 'nas');
      expect(await app.catalog.findByName(app.tenantId, 'nas')).toBeUndefined();
      expect(await app.index.scans.list({ tenantId: app.tenantId })).toEqual([]);
      await expect(app.catalog.remove(app.tenantId, 'nas')).rejects.toThrow(
        /no storage named "nas"/,
      );
    });

    it('reconnects a live client after an edit, and closes it on disable and rm', async () => {
      const db = await fresh();
      const app = await appOn(db, keyEnv(fleetKey));
      const volume = `live-${randomBytes(3).toString('hex')}`;
      registerMemoryVolume(volume, new MemoryTree().writeFile('/a', 1));
      try {
        const s = await app.catalog.add(app.tenantId, parseStorageSpec(`memory://${volume}`), {
          name: 'm',
        });
        const first = await app.storage.getClient(s.id);
        expect(app.storage.clients()).toMatchObject([{ storageId: s.id, version: 1 }]);
        await app.catalog.edit(app.tenantId, 'm', { name: 'renamed' }); // no new version
        expect(await app.storage.getClient(s.id)).toBe(first);
        await app.catalog.edit(app.tenantId, 'renamed', { maxConcurrency: 2 });
        expect(app.storage.liveIds()).toEqual([]); // the old client was closed at once
        expect(await app.storage.getClient(s.id)).not.toBe(first);
        expect(app.storage.clients()).toMatchObject([{ storageId: s.id, version: 2 }]);
        await app.catalog.setEnabled(app.tenantId, 'renamed', false);
        expect(app.storage.liveIds()).toEqual([]);
        await expect(app.storage.getClient(s.id)).rejects.toThrow(/is disabled/);
        await app.catalog.setEnabled(app.tenantId, 'renamed', true);
        await app.storage.getClient(s.id);
        await app.catalog.remove(app.tenantId, 'renamed');
        expect(app.storage.liveIds()).toEqual([]);
      } finally {
        unregisterMemoryVolume(volume);
      }
    });

    it('seals plain-text secrets an older trawl wrote, on the first open with a key', async () => {
      const db = await fresh();
      await legacyIndex(dialect, db.url, [
        {
          name: '/srv/a',
          options: { url: 'http://nas:80/dav', username: 'u', password: PASSWORD },
        },
        { name: 'webdav://u@nas:80/dav2', options: { url: 'http://nas:80/dav2' } },
        { name: '/srv/a', options: { url: 'http://nas:80/dav3' } }, // same name: 003 dedupes
      ]);
      if (dialect === 'postgres') {
        // A fleet without a key cannot seal them: a clear error, nothing half-done.
        await expect(App.open({ database: db.url, tenant: 'default', env: {} })).rejects.toThrow(
          /storage "\/srv\/a" holds `password` in plain text, written by an older trawl, and it cannot be sealed: no key to seal secrets with/,
        );
      }
      const app = await appOn(db, keyEnv(fleetKey));
      const names = (await app.catalog.list(app.tenantId)).map((s) => s.name);
      // The third row was '/srv/a-3' after 003 made names unique.
      expect(names).toEqual(['a', 'nas-dav2', 'a-3']);
      const [first] = await app.catalog.list(app.tenantId);
      expect((await app.catalog.opened(first!.id))?.options).toMatchObject({ password: PASSWORD });
      await app.close();
      expect(await rawText(db)).not.toContain(PASSWORD);
    });
  });
}

/** An index as trawl left it before migration 003, with storages rows written as it wrote them. */
async function legacyIndex(
  dialect: Dialect,
  url: string,
  rows: { name: string; options: Record<string, unknown> }[],
): Promise<void> {
  const conn =
    dialect === 'sqlite' ? await connectSqlite(url, { prebuilt: false }) : connectPostgres(url, {});
  try {
    await migrateTo(conn, '002-invalid-entries');
    await sql`INSERT INTO tenants (name, created_at) VALUES ('default', 0)`.execute(conn.db);
    for (const [i, row] of rows.entries()) {
      await sql`INSERT INTO storages (tenant_id, name, kind, location, options, version, enabled, created_at, updated_at)
        VALUES (1, ${row.name}, 'webdav', ${`loc-${i}`}, ${JSON.stringify(row.options)}, 1, 1, 0, 0)`.execute(
        conn.db,
      );
    }
  } finally {
    await conn.close();
  }
}
