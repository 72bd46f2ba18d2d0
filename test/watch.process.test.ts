import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { diskRows, tempDir } from './support/harness.js';
import { startTrawl, until, type TrawlProcess } from './support/trawl-process.js';

/** The index's rows of the one storage in `file`, as diskRows gives them, read without writing. */
function indexFile(file: string): Array<[string, boolean, number, number]> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT path, is_dir, size, mtime FROM entries ORDER BY path')
      .raw()
      .all() as Array<[string, number, number, number]>;
    return rows
      .map(([p, d, s, m]): [string, boolean, number, number] => [p, d === 1, s, m])
      .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  } finally {
    db.close();
  }
}

function holds(file: string, path: string): boolean {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT 1 FROM entries WHERE path = ?').get(path) !== undefined;
  } finally {
    db.close();
  }
}

describe('trawl watch in a process', () => {
  let trawl: TrawlProcess | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    if (trawl) {
      trawl.kill('SIGCONT');
      trawl.kill('SIGKILL');
      await trawl.exit(10_000).catch(() => undefined);
    }
    trawl = undefined;
    for (const c of cleanups.splice(0)) c();
  });

  it('sees a real overflow of the kernel event queue and rescans the whole tree', async () => {
    const tree = tempDir('trawl-watch-');
    const dbDir = tempDir('trawl-db-');
    cleanups.push(tree.cleanup, dbDir.cleanup);
    const db = join(dbDir.path, 'index.db');
    mkdirSync(join(tree.path, 'burst'));
    mkdirSync(join(tree.path, 'late'));
    writeFileSync(join(tree.path, 'before.txt'), 'x');
    trawl = startTrawl(['watch', tree.path, '--db', db, '--json', '--rescan-every', '0']);
    await trawl.waitFor('"why":"start"');
    // Stopped, the process reads no events: 12,000 new files are 24,000 events (created,
    // written), past the kernel's queue of 16,384, which drops the rest.
    trawl.kill('SIGSTOP');
    for (let i = 0; i < 12_000; i++) writeFileSync(join(tree.path, 'burst', `f${i}`), 'y');
    // These events are among those dropped: only a rescan finds these files.
    for (let i = 0; i < 3; i++) writeFileSync(join(tree.path, 'late', `l${i}`), 'z');
    trawl.kill('SIGCONT');
    await trawl.waitFor('"why":"overflow"', 60_000);
    writeFileSync(join(tree.path, 'sentinel'), 'last');
    await until(() => holds(db, '/sentinel'), 30_000);
    expect(indexFile(db)).toEqual(diskRows(tree.path));
    trawl.kill('SIGINT');
    const out = await trawl.exit(20_000);
    expect(out.code).toBe(0);
  }, 120_000);

  it('exits 1 with what to do for a storage that is not a local folder', async () => {
    const dbDir = tempDir('trawl-db-');
    cleanups.push(dbDir.cleanup);
    trawl = startTrawl(['watch', 'webdav://example.invalid/x', '--db', join(dbDir.path, 'i.db')]);
    const out = await trawl.exit(20_000);
    expect(out.code).toBe(1);
    expect(out.messages.join('\n')).toMatch(/only local folders can be watched/);
  });
});
