/**
 * makeDirs: `mkdir -p` that refuses instead of spinning. Node 20's recursive mkdirSync loops
 * forever at full CPU where a parent exists but refuses a child with ENOENT (procfs), so an
 * index path such as `/proc/x/index.db` hung `trawl scan` past SIGTERM.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDirs } from '../src/util/make-dirs.js';
import { startTrawl } from './support/trawl-process.js';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe(makeDirs.name, () => {
  it('makes every missing folder, with the mode asked, and takes one that exists', () => {
    const root = mkdtempSync(join(tmpdir(), 'trawl-mkdirs-'));
    made.push(root);
    const deep = join(root, 'a', 'b', 'c');
    makeDirs(deep, 0o700);
    expect(statSync(deep).isDirectory()).toBe(true);
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700);
    expect(() => makeDirs(deep)).not.toThrow();
  });

  it('throws where a parent refuses its child (procfs), rather than looping', () => {
    expect(() => makeDirs('/proc/trawl-no-such/x')).toThrow(/ENOENT/);
  });

  it('lets `trawl scan --db` under procfs fail with one clear line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'trawl-mkdirs-'));
    made.push(root);
    const out = await startTrawl(['scan', root, '--db', '/proc/trawl-no-such/index.db']).exit(
      20_000,
    );
    expect(out.code).toBe(1);
    expect(out.messages.join('\n')).toContain(
      'cannot open index database /proc/trawl-no-such/index.db',
    );
  });
});
