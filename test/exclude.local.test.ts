/**
 * Excludes on a real local folder, driven through the command line: `trawl scan --exclude`,
 * `trawl storages add|edit --exclude/--unexclude`, `storages show`, and marker files on disk.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { runCli } from './support/cli-capture.js';
import { indexLines, tempDir } from './support/harness.js';

describe('excludes on a local folder', () => {
  let dir: { path: string; cleanup: () => void };
  let root: string;
  let db: string;
  const cli = (args: string[]) => runCli([...args, '--db', db]);

  function put(path: string, text = 'x'): void {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }

  async function lines(): Promise<string[]> {
    const app = await App.open({ database: db, tenant: 'default' });
    try {
      const [storage] = await app.catalog.list(app.tenantId);
      return storage ? await indexLines(app, storage) : [];
    } finally {
      await app.close();
    }
  }

  beforeEach(() => {
    dir = tempDir('trawl-exclude-local-');
    root = join(dir.path, 'share');
    db = join(dir.path, 'index.db');
    put('photos/a.jpg', 'aa');
    put('photos/@eaDir/a.jpg/thumb.jpg');
    put('#recycle/old.jpg');
    put('code/node_modules/x/i.js');
    put('code/.git/HEAD');
    put('code/main.ts', 'ts');
    put('.Trash-1000/files/gone.jpg');
    put('cache/.nomedia', '');
    put('cache/c.jpg');
    put('drafts/.trawlignore', '*.tmp\n');
    put('drafts/a.tmp');
    put('drafts/b.txt', 'bbb');
  });
  afterEach(() => dir.cleanup());

  it('scans with --exclude and marker files, exactly', async () => {
    const args = ['--exclude', '.git', '--exclude', 'node_modules', '--exclude', '@eaDir'];
    const run = await cli([
      'scan',
      root,
      '--json',
      ...args,
      '--exclude',
      '#recycle',
      '--exclude',
      '.Trash-*',
    ]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'succeeded',
      dirs: 4,
      files: 4,
      created: 4,
      skipped: 8,
      errors: 0,
    });
    expect(await lines()).toEqual([
      '/cache:d',
      '/code:d',
      '/code/main.ts:2',
      '/drafts:d',
      '/drafts/.trawlignore:6',
      '/drafts/b.txt:3',
      '/photos:d',
      '/photos/a.jpg:2',
    ]);
  });

  it('keeps a storage list that add, edit and show handle, and scans by it', async () => {
    const added = await cli(['storages', 'add', root, '--name', 'nas', '--exclude', '.git']);
    expect(added.code).toBe(0);
    const edited = await cli([
      'storages',
      'edit',
      'nas',
      '--exclude',
      'node_modules',
      '--exclude',
      '#recycle',
    ]);
    expect(edited.code).toBe(0);
    const shown = await cli(['storages', 'show', 'nas']);
    expect(shown.stdout).toContain('  exclude = [".git","node_modules","#recycle"]');

    const first = JSON.parse((await cli(['scan', 'nas', '--json'])).stdout);
    expect(first).toMatchObject({ status: 'succeeded', skipped: 6, errors: 0 });
    expect(await lines()).not.toContain('/code/node_modules:d');

    // Taken off the list: back at the next scan.
    expect((await cli(['storages', 'edit', 'nas', '--unexclude', 'node_modules'])).code).toBe(0);
    const back = JSON.parse((await cli(['scan', 'nas', '--json'])).stdout);
    expect(back).toMatchObject({ status: 'succeeded', created: 1, deleted: 0 });
    expect(await lines()).toContain('/code/node_modules/x/i.js:1');

    // A scan by path keeps the stored list.
    JSON.parse((await cli(['scan', root, '--json'])).stdout);
    expect((await cli(['storages', 'show', 'nas'])).stdout).toContain(
      '  exclude = [".git","#recycle"]',
    );

    const wrong = await cli(['storages', 'edit', 'nas', '--unexclude', 'nope']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('"nope" is not on nas\'s exclude list (".git", "#recycle")');

    expect((await cli(['storages', 'edit', 'nas', '--unset', 'exclude'])).code).toBe(0);
    expect((await cli(['storages', 'show', 'nas'])).stdout).not.toContain('exclude =');
  });

  it('refuses a pattern that is not one line', async () => {
    const run = await cli(['scan', root, '--exclude', 'a\nb']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('Expected each `exclude` pattern to be one non-empty line');
  });
});
