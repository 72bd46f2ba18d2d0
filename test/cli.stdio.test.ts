import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StdioOut } from '../src/cli/stdio.js';
import { tempDir } from './support/harness.js';

/** A stand-in for Node's stream: what was handed to it, and that it was made. */
function fakeStream() {
  const got: string[] = [];
  let made = 0;
  const stream = { write: (chunk: string | Uint8Array) => got.push(Buffer.from(chunk).toString()) };
  const open = () => {
    made++;
    return stream as unknown as NodeJS.WriteStream;
  };
  return { got, open, made: () => made };
}

describe(StdioOut.name, () => {
  let tmp: { path: string; cleanup: () => void } | undefined;
  afterEach(() => tmp?.cleanup());

  it('writes a file synchronously, whole and in order, without making the stream', () => {
    tmp = tempDir('trawl-stdio-');
    const file = join(tmp.path, 'out');
    const fd = openSync(file, 'w');
    const fake = fakeStream();
    const out = new StdioOut(fd, fake.open);
    const big = 'x'.repeat(1 << 20);
    expect(out.write('é first\n')).toBe(true);
    out.write(Buffer.from(big));
    out.write('last\n');
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe(`é first\n${big}last\n`);
    expect(fake.made()).toBe(0);
    expect(out.isTTY).toBe(false);
    expect(out.writableLength).toBe(0);
  });

  it('hands a write that fails, and every later one, to the stream', () => {
    tmp = tempDir('trawl-stdio-');
    const file = join(tmp.path, 'read-only');
    closeSync(openSync(file, 'w'));
    const fd = openSync(file, 'r'); // writeSync answers EBADF, as a closed pipe answers EPIPE
    const fake = fakeStream();
    const out = new StdioOut(fd, fake.open);
    out.write('one\n');
    out.write('two\n');
    closeSync(fd);
    expect(fake.got).toEqual(['one\n', 'two\n']);
    expect(fake.made()).toBe(1);
  });

  it('makes no stream for /dev/null, and makes it at once for another character device', () => {
    const fd = openSync('/dev/null', 'w');
    const quiet = fakeStream();
    new StdioOut(fd, quiet.open).write('gone\n');
    closeSync(fd);
    expect(quiet.made()).toBe(0);
    const zero = openSync('/dev/zero', 'r');
    const device = fakeStream();
    new StdioOut(zero, device.open);
    closeSync(zero);
    expect(device.made()).toBe(1);
  });

  it('exits 0 when the reader of a pipe goes away, as before (trawl … | head)', () => {
    // A child writing 64 kB lines through StdioOut until the pipe closes: EPIPE on writeSync
    // hands over to a stream whose error handler ends the process quietly (exit 3: never heard).
    const script = `
      const { StdioOut } = await import(${JSON.stringify(new URL('../dist/cli/stdio.js', import.meta.url).href)});
      const out = new StdioOut(1, () => {
        process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
        return process.stdout;
      });
      for (let i = 0; i < 1000; i++) {
        out.write('y'.repeat(65535) + '\\n');
        await new Promise((resolve) => setImmediate(resolve)); // as a command's loop turns
      }
      process.exit(3);
    `;
    // bash with pipefail: the status is the writer's, not head's.
    const r = spawnSync(
      'bash',
      [
        '--noprofile',
        '--norc',
        '-c',
        `set -o pipefail; "${process.execPath}" --input-type=module -e "$S" | head -c 10 >/dev/null`,
      ],
      { env: { PATH: process.env.PATH, S: script }, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
