import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexError } from '../src/db/errors.js';
import { openIndex } from '../src/db/open.js';
import { PG_ADMIN_URL, skipDialect } from './support/databases.js';

async function admin(sql: string, url = PG_ADMIN_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe.skipIf(await skipDialect('postgres'))('migration 006 on PostgreSQL', () => {
  const suffix = randomBytes(5).toString('hex');
  const role = `trawl_noext_${suffix}`;
  const database = `trawl_t_noext_${suffix}`;
  const dbUrl = (user?: string) => {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${database}`;
    if (user) url.username = user;
    return url.toString();
  };

  beforeAll(async () => {
    // A role that may make tables but not extensions: CREATE on the schema, not on the database.
    await admin(`CREATE ROLE ${role} LOGIN`);
    await admin(`CREATE DATABASE ${database}`);
    await admin(`GRANT CREATE, USAGE ON SCHEMA public TO ${role}`, dbUrl());
  });

  afterAll(async () => {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin(`DROP ROLE IF EXISTS ${role}`);
  });

  it('names pg_trgm and what to do when it may not create it', async () => {
    const error = await openIndex(dbUrl(role)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IndexError);
    expect((error as Error).message).toMatch(/migration 006-search failed: .*pg_trgm/);
    expect((error as Error).message).toContain('CREATE EXTENSION pg_trgm');
  });

  it('uses pg_trgm once an administrator made it', async () => {
    await admin('CREATE EXTENSION IF NOT EXISTS pg_trgm', dbUrl());
    const index = await openIndex(dbUrl(role));
    try {
      const tenantId = await index.tenants.ensure('t');
      const { id: storageId } = await index.storages.upsert({
        tenantId,
        name: 's',
        kind: 'memory',
        location: 'memory://s',
        options: { volume: 's' },
      });
      await index.entries.apply(
        { tenantId, storageId },
        [],
        [
          {
            path: '/Ein Fötus.txt',
            parent: '/',
            name: 'Ein Fötus.txt',
            isDir: false,
            size: 1,
            mtime: 1,
            etag: null,
            mediaKind: null,
          },
        ],
      );
      const page = await index.queries.search({ tenantId, name: 'FÖTUS' });
      expect(page.items.map((e) => e.path)).toEqual(['/Ein Fötus.txt']);
    } finally {
      await index.close();
    }
  });
});
