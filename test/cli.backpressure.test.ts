import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeChunks, writePages } from '../src/cli/index-read.js';

/**
 * A reader slower than the query (`trawl find … --json | slow-reader`): Node buffers a pipe's
 * writes without bound, so the reading must wait for the stream, or the whole result ends up
 * in memory. A stream that takes a chunk every few milliseconds, fed 40 MB of lines.
 */
function slowStream() {
  let most = 0;
  // Takes whatever is buffered at once, at about 64 MB/s: slower than the writing.
  const stream = new Writable({
    highWaterMark: 64 * 1024,
    writev(chunks, done) {
      const bytes = chunks.reduce((n, c) => n + (c.chunk as Buffer).length, 0);
      setTimeout(done, Math.ceil(bytes / 65_536));
    },
  });
  const write = (chunk: string | Buffer) => {
    stream.write(chunk);
    most = Math.max(most, stream.writableLength);
  };
  return { stream, write, most: () => most };
}

const LINE = `${'x'.repeat(199)}\n`;

async function* pages(count: number, size: number): AsyncIterable<string[]> {
  for (let p = 0; p < count; p++) yield Array.from({ length: size }, () => LINE);
}

describe('output to a slower reader', () => {
  it('writePages holds at most about a megabyte unwritten', async () => {
    const out = slowStream();
    // 200,000 lines of 200 bytes: 40 MB, in pages of 5,000.
    await writePages(() => pages(40, 5000), out.write, out.stream);
    expect(out.most()).toBeGreaterThan(1 << 20); // it was behind…
    expect(out.most()).toBeLessThan(2 << 20); // …and waited
  }, 60_000);

  it('writeChunks holds at most about a megabyte unwritten', async () => {
    const out = slowStream();
    async function* chunks() {
      for (let i = 0; i < 400; i++) yield Buffer.from(LINE.repeat(500));
    }
    await writeChunks(chunks, out.write, out.stream);
    expect(out.most()).toBeGreaterThan(1 << 20);
    expect(out.most()).toBeLessThan(2 << 20);
  }, 60_000);

  it('ends when the stream is destroyed while it waits (a reader gone: EPIPE)', async () => {
    const out = slowStream();
    out.stream.on('error', () => {});
    setTimeout(() => out.stream.destroy(), 5);
    await writePages(() => pages(40, 5000), out.write, out.stream);
    expect(out.stream.destroyed).toBe(true);
  }, 60_000);

  it('ends when the stream was destroyed before it would wait (nothing left to hear)', async () => {
    const out = slowStream();
    out.stream.on('error', () => {});
    const write = (chunk: string | Buffer) => {
      out.write(chunk);
      if (out.stream.writableLength > 1 << 20) out.stream.destroy();
    };
    await writePages(() => pages(40, 5000), write, out.stream);
    expect(out.stream.destroyed).toBe(true);
  }, 10_000);
});
