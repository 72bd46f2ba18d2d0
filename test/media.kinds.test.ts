import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { IndexedEntry } from '../src/db/entries.js';
import {
  isAmbiguousMedia,
  isAmbiguousMediaIn,
  mediaKindIn,
  mediaKindOf,
} from '../src/scan/media.js';
import { videoByContext } from '../src/scan/media-context.js';
import { isTransportStream, PROBE_BYTES } from '../src/scan/media-probe.js';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { Entry } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { createDatabase, DIALECTS, skipDialect, type TestDatabase } from './support/databases.js';
import { memoryFixture, tempDir, type MemoryFixture } from './support/harness.js';

/** `packets` transport-stream packets of `size` bytes (188, or 192 with a timecode first). */
function stream(packets: number, size: 188 | 192 = 188): Buffer {
  const out = Buffer.alloc(packets * size);
  for (let i = 0; i < packets; i++) {
    const at = i * size + (size - 188);
    randomBytes(188).copy(out, at);
    out[at] = 0x47;
    out[at + 1] = 0x41; // payload start, PID 0x100 (high bits)
    out[at + 2] = 0x00;
  }
  return out;
}

const SOURCE = `import { a } from './a.js';\n\nexport function f(x: number): number {\n  return a(x) * 2;\n}\n`;

/** TypeScript text of about `bytes` bytes. */
function source(bytes: number): string {
  return SOURCE.repeat(Math.ceil(bytes / SOURCE.length)).slice(0, bytes);
}

function file(path: string, size: number): Entry {
  return { path, name: path.slice(path.lastIndexOf('/') + 1), isDir: false, size, mtime: 0 };
}

describe('media kinds by name', () => {
  it('leaves .ts and .mts to the scan, and never takes a declaration file for video', () => {
    expect(mediaKindOf('a.mkv')).toBe('video');
    expect(mediaKindOf('clip.ts')).toBeNull();
    expect(mediaKindOf('CLIP.MTS')).toBeNull();
    expect(isAmbiguousMedia('clip.ts')).toBe(true);
    expect(isAmbiguousMedia('00001.MTS')).toBe(true);
    expect(isAmbiguousMedia('index.d.ts')).toBe(false);
    expect(isAmbiguousMedia('index.d.mts')).toBe(false);
    expect(isAmbiguousMedia('a.tsx')).toBe(false);
  });

  it('reads the extension in either case, and only the extension', () => {
    expect(mediaKindOf('A.MKV')).toBe('video');
    expect(mediaKindOf('b.JpEg')).toBe('image');
    expect(mediaKindOf('song.flac')).toBe('audio');
    expect(mediaKindOf('x.3gp')).toBe('video');
    expect(mediaKindOf('film.mkv.srt')).toBe('subtitle');
    expect(mediaKindOf('a.mkv2')).toBeNull();
    expect(mediaKindOf('a.mk')).toBeNull();
    expect(mediaKindOf('a.mkvmkv')).toBeNull();
    expect(mediaKindOf('.mkv')).toBeNull();
    expect(mediaKindOf('mkv')).toBeNull();
    expect(mediaKindOf('a.')).toBeNull();
    expect(mediaKindOf('a.m-v')).toBeNull();
    expect(mediaKindOf('a.ts.txt')).toBeNull();
    // Lower-cased as String#toLowerCase does beyond ASCII: the Kelvin sign is a k.
    expect(mediaKindOf('movie.M\u212AV')).toBe('video');
    expect(mediaKindOf('movie.m\u00e9v')).toBeNull();
    expect(isAmbiguousMedia('CLIP.Ts')).toBe(true);
    expect(isAmbiguousMedia('.ts')).toBe(false);
    expect(isAmbiguousMedia('a.tss')).toBe(false);
  });

  it('reads a name inside joined names as it reads it alone', () => {
    const names = ['a.mkv', 'README', '.jpg', 'x.', 'clip.TS', 'b.d.ts', 'movie.M\u212AV', 'mkv'];
    names.push('long.abcdef', 'deep.dir.flac', '', 'a.mkvmkv', 'n.jpg', 'hash0123456789');
    const all = names.join('/');
    let at = 0;
    for (const name of names) {
      const end = at + name.length;
      expect(mediaKindIn(all, at, end), name).toBe(mediaKindOf(name));
      expect(isAmbiguousMediaIn(all, at, end), name).toBe(isAmbiguousMedia(name));
      at = end + 1;
    }
  });

  it('reads names without a dot in joined names in time linear in their number', () => {
    // Each search for a dot went back through every name before it: 20,000 such names (a
    // cache's, hashes) took ~10 s, quadratic; now a few milliseconds.
    const names = Array.from({ length: 20_000 }, (_, i) => i.toString(16).padStart(40, '0'));
    const all = `x.jpg/${names.join('/')}`;
    const started = performance.now();
    let at = 6;
    let kinds = 0;
    for (const name of names) {
      if (mediaKindIn(all, at, at + name.length) !== null) kinds++;
      at += name.length + 1;
    }
    expect(kinds).toBe(0);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe(isTransportStream.name, () => {
  it('knows 188-byte and 192-byte streams from their first bytes', () => {
    expect(isTransportStream(stream(3).subarray(0, PROBE_BYTES))).toBe(true);
    expect(isTransportStream(stream(3, 192).subarray(0, PROBE_BYTES))).toBe(true);
    expect(isTransportStream(stream(2).subarray(0, 377))).toBe(true);
  });

  it('takes no text for a stream, even one with G at every packet boundary', () => {
    const text = Buffer.from(source(PROBE_BYTES));
    expect(isTransportStream(text)).toBe(false);
    text[0] = text[188] = text[376] = 0x47;
    expect(isTransportStream(text)).toBe(false);
    expect(isTransportStream(new Uint8Array())).toBe(false);
    const broken = stream(3);
    broken[188] = 0x48;
    expect(isTransportStream(broken.subarray(0, PROBE_BYTES))).toBe(false);
  });
});

describe(videoByContext.name, () => {
  const judge = (dir: string, entries: Entry[]) => [...videoByContext(dir, entries)].sort();

  it('takes small .ts files among code for TypeScript', () => {
    expect(
      judge('/proj/src', [
        file('/proj/src/a.ts', 4000),
        file('/proj/src/b.ts', 2_000_000),
        file('/proj/src/c.js', 100),
      ]),
    ).toEqual([]);
    expect(judge('/proj/node_modules/x', [file('/proj/node_modules/x/a.ts', 5_000_000)])).toEqual(
      [],
    );
    expect(judge('/scratch', [file('/scratch/one.ts', 1200)])).toEqual([]);
  });

  it('takes large or packet-sized .ts files among video for video', () => {
    expect(
      judge('/tv', [
        file('/tv/show.ts', 1_500_000_001),
        file('/tv/show.srt', 1000),
        file('/tv/tiny.ts', 300),
      ]),
    ).toEqual(['/tv/show.ts']);
    expect(
      judge('/hls', [
        file('/hls/seg1.ts', 188 * 2000),
        file('/hls/seg2.ts', 188 * 1900),
        file('/hls/index.m3u8', 400),
      ]),
    ).toEqual(['/hls/seg1.ts', '/hls/seg2.ts']);
    expect(judge('/AVCHD/BDMV/STREAM', [file('/AVCHD/BDMV/STREAM/00001.MTS', 192 * 999)])).toEqual([
      '/AVCHD/BDMV/STREAM/00001.MTS',
    ]);
    expect(judge('/Videos', [file('/Videos/rec.ts', 40_000_000)])).toEqual(['/Videos/rec.ts']);
  });
});

/** Each path of the tree and what it must be indexed as. */
const EXPECTED: Record<string, string | null> = {
  '/video/broadcast.ts': 'video',
  '/video/camera.MTS': 'video',
  '/video/notes.ts': null, // a TypeScript file among videos: its bytes say so
  '/video/movie.mkv': 'video',
  '/proj/package.json': null,
  '/proj/src/index.ts': null,
  '/proj/src/esm.mts': null,
  '/proj/src/types.d.ts': null, // starts like a stream: a declaration file is never video
  '/proj/src/recording.ts': 'video', // a stream among sources: its bytes say so
  '/proj/empty.ts': null,
  '/proj/tiny.ts': null,
  '/mixed/seg.ts': 'video',
  '/mixed/app.ts': null,
};

function writeTree(root: string): void {
  const at = (p: string) => join(root, p);
  for (const d of ['video', 'proj/src', 'mixed']) mkdirSync(at(d), { recursive: true });
  writeFileSync(at('video/broadcast.ts'), stream(600));
  writeFileSync(at('video/camera.MTS'), stream(500, 192));
  writeFileSync(at('video/notes.ts'), source(90_000));
  writeFileSync(at('video/movie.mkv'), 'x');
  writeFileSync(at('proj/package.json'), '{}');
  writeFileSync(at('proj/src/index.ts'), source(3000));
  writeFileSync(at('proj/src/esm.mts'), source(500));
  writeFileSync(at('proj/src/types.d.ts'), stream(5));
  writeFileSync(at('proj/src/recording.ts'), stream(40));
  writeFileSync(at('proj/empty.ts'), '');
  writeFileSync(at('proj/tiny.ts'), 'G');
  writeFileSync(at('mixed/seg.ts'), stream(7, 192));
  writeFileSync(at('mixed/app.ts'), source(188 * 400));
}

function kinds(entries: IndexedEntry[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const e of entries) if (!e.isDir) out[e.path] = e.mediaKind;
  return out;
}

for (const dialect of DIALECTS) {
  describe(`media kinds of a local tree (${dialect})`, () => {
    let db: TestDatabase | undefined;
    let app: App | undefined;
    let cleanup: (() => void) | undefined;
    afterEach(async () => {
      await app?.close();
      await db?.drop();
      cleanup?.();
      app = undefined;
      db = undefined;
    });

    it('classifies a tree of transport streams and TypeScript exactly by their first bytes', async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const tmp = tempDir();
      cleanup = tmp.cleanup;
      writeTree(tmp.path);
      db = await createDatabase(dialect);
      app = await App.open({ database: db.url, tenant: 'default' });
      const storage = await app.ensureStorage(parseStorageSpec(tmp.path));
      const result = await app.scan(storage);
      expect(result.status).toBe('succeeded');
      const indexed: IndexedEntry[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true }))
        indexed.push(e);
      expect(kinds(indexed)).toEqual(EXPECTED);
      const media = Object.values(EXPECTED).filter((k) => k === 'video').length;
      expect(result.mediaFiles).toBe(media);
      // A rescan of the same tree agrees with itself: nothing is rewritten.
      expect(await app.scan(storage)).toMatchObject({ status: 'succeeded', updated: 0 });
    });
  });
}

describe('media kinds on a rescan', () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('reads no unchanged TypeScript file again, and corrects a row indexed as video before', async () => {
    const tree = new MemoryTree()
      .writeText('/app/a.ts', source(2000))
      .writeText('/app/b.ts', source(3000));
    fx = await memoryFixture({ tree });
    const { app, storage } = fx;
    expect((await app.scan(storage)).status).toBe('succeeded');
    const reads = tree.stats.reads;
    expect(reads).toBe(2);
    expect(await app.scan(storage)).toMatchObject({ status: 'succeeded', updated: 0 });
    expect(tree.stats.reads).toBe(reads);
    // An index written when every .ts was video: the row is read again and put right.
    await app.index.db
      .updateTable('entries')
      .set({ media_kind: 'video' })
      .where('path', '=', '/app/a.ts')
      .execute();
    expect(await app.scan(storage)).toMatchObject({ status: 'succeeded', updated: 1 });
    expect(tree.stats.reads).toBe(reads + 1);
    expect(kinds(await fx.indexed())['/app/a.ts']).toBeNull();
  });
});

describe('media kinds of a storage that cannot read bytes', () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('judges .ts files by their directory', async () => {
    const tree = new MemoryTree()
      .writeFile('/Recordings/news.ts', 188 * 100_000)
      .writeFile('/Recordings/news.srt', 900)
      .writeFile('/app/src/main.ts', 2400)
      .writeFile('/app/src/util.ts', 188 * 20)
      .writeFile('/app/src/index.js', 100)
      .writeFile('/app/node_modules/lib/big.ts', 9_000_000)
      .writeFile('/app/index.d.ts', 5_000_000);
    fx = await memoryFixture({ tree });
    const { app, storage } = fx;
    // The memory backend reads bytes; a remote one does not: the same handle without readHead.
    const handle = await app.storage.open(storage.id);
    const remote: StorageHandle = {
      storageId: handle.storageId,
      list: (dir, o) => handle.list(dir, o),
      check: (o) => handle.check(o),
    };
    const scope = { tenantId: storage.tenantId, storageId: storage.id };
    expect((await scan({ storage: remote, entries: app.index.entries }, scope)).status).toBe(
      'succeeded',
    );
    expect(kinds(await fx.indexed())).toEqual({
      '/Recordings/news.ts': 'video',
      '/Recordings/news.srt': 'subtitle',
      '/app/src/main.ts': null,
      '/app/src/util.ts': null,
      '/app/src/index.js': null,
      '/app/node_modules/lib/big.ts': null,
      '/app/index.d.ts': null,
    });
  });
});
