import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin', 'trawl.js');
const slowScan = join(repo, 'test', 'fixtures', 'slow-scan.mjs');

function trawl(args: string[], home: string) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/trawl.js (a real process, from dist/)', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
  });
  afterEach(() => tmp?.cleanup());

  it('scans a temp folder and prints one JSON object', () => {
    tmp = tempDir('trawl-bin-');
    const root = join(tmp.path, 'data');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'a', 'b', 'clip.mkv'), '12345');
    writeFileSync(join(root, 'a', 'x.txt'), '1');
    mkdirSync(join(root, 'empty'));
    const db = join(tmp.path, 'index.db');
    const r = trawl(['scan', root, '--db', db, '--json'], tmp.path);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      scanId: 1,
      status: 'succeeded',
      dirs: 3,
      files: 2,
      mediaFiles: 1,
      bytes: 6,
      created: 2,
      errors: 0,
    });
    const again = trawl(['scan', root, '--db', db, '--json'], tmp.path);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ scanId: 2, storageId: 1, unchanged: 2 });
  });

  it('stops quietly when the reader of its output goes away (trawl ls | head)', async () => {
    tmp = tempDir('trawl-bin-');
    const root = join(tmp.path, 'data');
    mkdirSync(root);
    // Far more output than a pipe holds, so writes go on after the reader has left.
    for (let i = 0; i < 3000; i++) writeFileSync(join(root, `file-${i}.txt`), '');
    const db = join(tmp.path, 'index.db');
    expect(trawl(['scan', root, '--db', db], tmp.path).code).toBe(0);
    const child = spawn(process.execPath, [bin, 'ls', root, '--db', db], {
      env: { PATH: process.env.PATH, HOME: tmp.path },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy(); // like `head -1` exiting after its line
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('gives one line on stderr and exit 1 for bad input', () => {
    tmp = tempDir('trawl-bin-');
    const r = trawl(['scan', join(tmp.path, 'missing'), '--db', join(tmp.path, 'i.db')], tmp.path);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^trawl: no such folder: .*missing\n$/);
  });

  it('cancels cleanly on Ctrl-C: exit 130 and a cancelled scan in the history', async () => {
    tmp = tempDir('trawl-bin-');
    const db = join(tmp.path, 'index.db');
    const child = spawn(
      process.execPath,
      [slowScan, 'scan', 'memory://slow', '--db', db, '--json', '--workers', '2'],
      { env: { PATH: process.env.PATH, HOME: tmp.path }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('listing\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before listing: ${stderr}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toBe('listing\n');
    const result = JSON.parse(stdout) as { status: string; files: number; scanId: number };
    expect(result.status).toBe('cancelled');
    // 200 directories at 30 ms each, 2 at a time: far from done when interrupted.
    expect(result.files).toBeLessThan(600);

    const scans = trawl(['scans', '--db', db, '--json'], tmp.path);
    expect(scans.code).toBe(0);
    const rows = scans.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; status: string; location: string });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: result.scanId,
      status: 'cancelled',
      location: 'memory://slow',
    });
  });
});
