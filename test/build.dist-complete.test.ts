/**
 * scripts/dist-complete.js, run before the build's incremental tsc: an output deleted while
 * tsc's build info stays would never be written again (and the bundle step would fail on it),
 * so then the build info goes.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', 'scripts', 'dist-complete.js');

describe('scripts/dist-complete.js', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A project with src/a.ts and src/sub/b.ts, their outputs as `outputs` says, build info kept. */
  function project(outputs: string[]): string {
    const root = mkdtempSync(join(tmpdir(), 'trawl-dist-'));
    dirs.push(root);
    for (const dir of ['scripts', 'src/sub', 'dist/sub'])
      mkdirSync(join(root, dir), { recursive: true });
    copyFileSync(script, join(root, 'scripts', 'dist-complete.js'));
    writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'src', 'sub', 'b.ts'), 'export const b = 2;\n');
    for (const output of outputs) writeFileSync(join(root, 'dist', output), '');
    writeFileSync(join(root, 'dist', '.tsbuildinfo'), '{}');
    return root;
  }

  const run = (root: string) =>
    spawnSync(process.execPath, [join(root, 'scripts', 'dist-complete.js')], { encoding: 'utf8' });

  it('keeps the build info while every output is there', () => {
    const root = project(['a.js', 'sub/b.js']);
    expect(run(root).status).toBe(0);
    expect(existsSync(join(root, 'dist', '.tsbuildinfo'))).toBe(true);
  });

  it('removes it when an output in a subfolder is gone, and says which', () => {
    const root = project(['a.js']);
    const result = run(root);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(join('dist', 'sub', 'b.js'));
    expect(existsSync(join(root, 'dist', '.tsbuildinfo'))).toBe(false);
  });
});
