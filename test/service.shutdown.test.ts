import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { grow, volume } from './service.helpers.js';
import { tempDir } from './support/harness.js';

describe('trawl scan on SIGTERM', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('cancels the scan and closes the storage clients before it returns', async () => {
    const tree = new MemoryTree();
    grow(tree, [10, 10], 2);
    tree.latencyMs = 5;
    const vol = volume(tree);
    const dir = tempDir();
    cleanups.push(vol.drop, dir.cleanup);
    let started!: () => void;
    const listing = new Promise<void>((r) => (started = r));
    tree.beforeList = () => {
      if (tree.stats.lists >= 5) started();
    };
    const before = new Set(process.listeners('SIGTERM'));
    const out: string[] = [];
    const io = {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: () => true },
      env: { HOME: dir.path },
    };
    const run = main(
      ['node', 'trawl', 'scan', `memory://${vol.name}`, '--db', join(dir.path, 'i.db'), '--json'],
      io,
    );
    const early = await Promise.race([listing.then(() => undefined), run]);
    expect(early).toBeUndefined(); // still scanning
    expect(tree.stats.openClients).toBe(1);
    // Deliver SIGTERM to the CLI's own handler only (not to the test runner's).
    const handler = process.listeners('SIGTERM').find((l) => !before.has(l));
    expect(handler).toBeTypeOf('function');
    handler!('SIGTERM');
    expect(await run).toBe(130);
    expect(JSON.parse(out.join('')).status).toBe('cancelled');
    expect(tree.stats.openClients).toBe(0);
    expect(tree.stats.lists).toBeLessThan(111);
    expect(process.listeners('SIGTERM')).not.toContain(handler);
  });
});
