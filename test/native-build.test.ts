/**
 * scripts/build-native.js (npm ci's `prepare`): builds the native listing where it can, and
 * where it cannot — no compiler here, simulated by a CC that does not exist — still exits 0
 * with one line saying so and leaves no half-built addon behind (docs/native-listing.md).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';

const repo = resolve(import.meta.dirname, '..');
const script = join(repo, 'scripts/build-native.js');
const hasCompiler = spawnSync('cc', ['--version']).status === 0;

/** A copy of what node-gyp builds from, so the repository's own build/ is left alone. */
function sources(): { path: string; cleanup: () => void } {
  const tmp = tempDir('trawl-native-build-');
  cpSync(join(repo, 'binding.gyp'), join(tmp.path, 'binding.gyp'));
  cpSync(join(repo, 'native'), join(tmp.path, 'native'), { recursive: true });
  return tmp;
}

describe('scripts/build-native.js', () => {
  let tmp: { path: string; cleanup: () => void } | undefined;
  afterEach(() => tmp?.cleanup());

  it('without a compiler: exits 0, one line, no addon', () => {
    tmp = sources();
    const run = spawnSync(process.execPath, [script, tmp.path], {
      encoding: 'utf8',
      env: { ...process.env, CC: '/nonexistent/cc', CXX: '/nonexistent/c++' },
    });
    expect(run.status).toBe(0);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^trawl: the native listing was not built \(.+\); local scans use the JS listing$/,
      ),
    ]);
    expect(existsSync(join(tmp.path, 'build'))).toBe(false);
  });

  it('with TRAWL_LOCAL_NATIVE=0: skips the build, one line', () => {
    tmp = sources();
    const run = spawnSync(process.execPath, [script, tmp.path], {
      encoding: 'utf8',
      env: { ...process.env, TRAWL_LOCAL_NATIVE: '0' },
    });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/not built \(TRAWL_LOCAL_NATIVE=0\)/);
    expect(existsSync(join(tmp.path, 'build'))).toBe(false);
  });

  it.runIf(hasCompiler)('with a compiler: builds an addon that loads', () => {
    tmp = sources();
    const run = spawnSync(process.execPath, [script, tmp.path], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('trawl: native listing built: build/Release/trawl_listing.node\n');
    expect(existsSync(join(tmp.path, 'build/Release/trawl_listing.node'))).toBe(true);
  });
});
