/**
 * bin/trawl.js runs the bundle (dist/bundle/main.cjs, and kysely.cjs once a command queries;
 * scripts/bundle.js) compiled from its V8 code cache, but only while everything it was made
 * from is unchanged: a stale bundle falls back to dist/cli/main.js, a cache rewritten since
 * the build is not handed to V8 (V8 checks a cache against its source's length alone). Run on
 * a copy of bin/ and dist/, so the build the other tests use is never touched.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** The node flags of bin/trawl.js's shebang: the code cache is made under them. */
const SHEBANG_FLAGS = readFileSync(join(repo, 'bin', 'trawl.js'), 'utf8')
  .split('\n')[0]!
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

describe('the bundled command line', () => {
  let tmp: ReturnType<typeof tempDir>;
  let copy: string;
  const run = (...args: string[]) => {
    const r = spawnSync(
      process.execPath,
      [...SHEBANG_FLAGS, join(copy, 'bin', 'trawl.js'), ...args],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: tmp.path, TRAWL_DEBUG_START: '1' },
        timeout: 60_000,
      },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const bundleFile = () => join(copy, 'dist', 'bundle', 'main.cjs');
  const inputsFile = () => join(copy, 'dist', 'bundle', 'inputs.json');
  const filesFile = () => join(copy, 'dist', 'bundle', 'files.json');
  const stampFile = () => join(copy, 'dist', '.tsbuildinfo');
  const mtimeOf = (path: string) => statSync(join(copy, 'dist', path)).mtimeMs;
  /** The copy's mtimes in its inputs.json and files.json, as scripts/bundle.js records its build's. */
  const recordAsBuilt = () => {
    const info = JSON.parse(readFileSync(inputsFile(), 'utf8'));
    for (const own of info.own) own[1] = mtimeOf(own[0]);
    if (info.stamp) info.stamp[1] = mtimeOf(info.stamp[0]);
    info.cache = statSync(`${bundleFile()}.cache`).mtimeMs;
    info.kyselyCache = statSync(join(copy, 'dist', 'bundle', 'kysely.cjs.cache')).mtimeMs;
    writeFileSync(inputsFile(), JSON.stringify(info));
    const files = JSON.parse(readFileSync(filesFile(), 'utf8')) as [string, number][];
    for (const file of files) file[1] = mtimeOf(file[0]);
    writeFileSync(filesFile(), JSON.stringify(files));
  };

  beforeEach(() => {
    tmp = tempDir('trawl-bundle-');
    copy = join(tmp.path, 'trawl');
    // bin/ whole: its package.json makes bin/trawl.js CommonJS.
    cpSync(join(repo, 'bin'), join(copy, 'bin'), { recursive: true });
    cpSync(join(repo, 'dist'), join(copy, 'dist'), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
    recordAsBuilt();
    mkdirSync(join(tmp.path, 'data'));
    writeFileSync(join(tmp.path, 'data', 'x.txt'), 'x');
  });
  afterEach(() => tmp?.cleanup());

  it('runs the bundle from its code cache, as the shebang starts it', () => {
    const r = run('scan', join(tmp.path, 'data'), '--db', join(tmp.path, 'i.db'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(r.stderr).toBe('trawl: start: the bundle, code cache used\n');
  });

  it('runs Kysely, a script of its own, from its cache only for a command that queries', () => {
    const db = join(tmp.path, 'i.db');
    // The scan's bookkeeping is plain statements: the test above saw one script run.
    expect(run('scan', join(tmp.path, 'data'), '--db', db, '--json').code).toBe(0);
    const r = run('scans', '--db', db, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(r.stderr).toBe(
      'trawl: start: the bundle, code cache used\ntrawl: start: Kysely, code cache used\n',
    );
  });

  it('answers --version without reading the bundle, and runs the bundle for the rest', () => {
    // A bundle that fails loudly, recorded as current: only what runs it can tell.
    writeFileSync(bundleFile(), "throw new Error('the bundle ran');\n");
    recordAsBuilt();
    const version = run('--version');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
    const help = run('--help');
    expect(help.code).not.toBe(0);
    expect(help.stderr).toContain('the bundle ran');
  });

  it('falls back to dist/ once a tsc build after it rewrote its stamp', () => {
    // tsc rewrites the files that changed, then its build info (the test below).
    const main = join(copy, 'dist', 'cli', 'main.js');
    writeFileSync(main, readFileSync(main));
    writeFileSync(stampFile(), readFileSync(stampFile()));
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: trawl');
    expect(r.stderr).toBe('trawl: start: dist/cli/main.js (no current bundle)\n');
  });

  it('compares every file it was made from when the stamp is gone', () => {
    rmSync(stampFile());
    expect(run('--help').stderr).toBe('trawl: start: the bundle, code cache used\n');
    const main = join(copy, 'dist', 'cli', 'main.js');
    writeFileSync(main, readFileSync(main));
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: trawl');
    expect(r.stderr).toBe('trawl: start: dist/cli/main.js (no current bundle)\n');
  });

  it('records a stamp tsc wrote after every file it bundled, and every file besides', () => {
    const dist = join(repo, 'dist');
    const info = JSON.parse(readFileSync(join(dist, 'bundle', 'inputs.json'), 'utf8'));
    const files = JSON.parse(readFileSync(join(dist, 'bundle', 'files.json'), 'utf8')) as [
      string,
      number,
    ][];
    expect(info.stamp).toEqual(['.tsbuildinfo', statSync(join(dist, '.tsbuildinfo')).mtimeMs]);
    expect(files.map(([path]) => path)).toContain('cli/main.js');
    for (const [path, ms] of files) {
      expect(statSync(join(dist, path)).mtimeMs).toBe(ms);
      expect(ms).toBeLessThanOrEqual(info.stamp[1]);
    }
  });

  it('falls back to dist/ once the bundle itself changed', () => {
    writeFileSync(bundleFile(), "throw new Error('the bundle ran');\n");
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('trawl: start: dist/cli/main.js (no current bundle)\n');
  });

  it('holds no import(): in a vm.Script it would need an experimental hook, which warns', () => {
    // The S3 SDK, imported dynamically by src/storage/backends/s3.ts, is required instead.
    const source = readFileSync(join(repo, 'dist', 'bundle', 'main.cjs'), 'utf8');
    expect(source).toContain('require("@aws-sdk/client-s3")');
    expect(source).not.toMatch(/\bimport\(/);
  });

  it('makes one namespace object per CommonJS module imported, not one per import', () => {
    // scripts/bundle.js rewrites esbuild's __toESM: 27 copies of 767 getters an empty scan
    // made before. Its helpers are taken from the bundle's prelude and run here.
    const source = readFileSync(join(repo, 'dist', 'bundle', 'main.cjs'), 'latin1');
    const prelude = source.slice(
      source.indexOf('var __create='),
      source.indexOf('var __toESMEach='),
    );
    const each = /var __toESMEach=[^;]*;/.exec(source)?.[0];
    expect(each).toBeDefined();
    const toESM = new Function(`${prelude}${each!}return __toESM;`)() as (
      mod: unknown,
      isNodeMode?: number,
    ) => Record<string, unknown>;
    const mod = { a: 1, b: () => 2 };
    const ns = toESM(mod, 1);
    expect(toESM(mod, 1)).toBe(ns);
    expect(toESM(mod, 0)).not.toBe(ns);
    expect(toESM({ ...mod }, 1)).not.toBe(ns);
    expect(ns.default).toBe(mod);
    mod.a = 3; // getters, as esbuild's: a CommonJS module's later writes show
    expect(ns.a).toBe(3);
  });

  it('requires a lazy builtin at its first read, and lists its names and namespace without it', () => {
    // scripts/bundle.js (LAZY_MODULE): a Proxy per builtin, not a getter per export (crypto
    // has 70), and its namespace made with it, so that __toESM copies nothing.
    const source = readFileSync(join(repo, 'dist', 'bundle', 'main.cjs'), 'latin1');
    const head = '"trawl-lazy-builtin:crypto"(exports2,module2){';
    const start = source.indexOf(head) + head.length;
    const body = source.slice(start, source.indexOf('}});', start));
    const required: string[] = [];
    const module = { exports: {} as Record<string | symbol, unknown> };
    new Function('exports2', 'module2', 'require', body)(module.exports, module, (id: string) => {
      required.push(id);
      return require(id) as unknown;
    });
    const crypto = require('node:crypto') as Record<string, unknown>;
    const lazy = module.exports;
    expect(Object.keys(lazy)).toEqual(Object.keys(crypto));
    expect('createHash' in lazy).toBe(true);
    expect('nothing' in lazy).toBe(false);
    const namespace = lazy[Symbol.for('trawl.lazyBuiltinNamespace')] as Record<string, unknown>;
    expect(Object.keys(namespace)).toEqual([...Object.keys(crypto), 'default']);
    expect(namespace.default).toBe(lazy);
    expect(required).toEqual([]);
    expect(lazy.createHash).toBe(crypto.createHash);
    expect(namespace.randomBytes).toBe(crypto.randomBytes);
    expect(Object.getOwnPropertyDescriptor(namespace, 'webcrypto')?.enumerable).toBe(true);
    expect(required).toEqual(['node:crypto']);
    // The bundle's __toESM hands out that namespace.
    const prelude = source.slice(
      source.indexOf('var __create='),
      source.indexOf('var __toESMEach='),
    );
    const toESM = new Function(`${prelude}return __toESM;`)() as (m: unknown, n: number) => unknown;
    expect(toESM(lazy, 1)).toBe(namespace);
    expect(toESM(lazy, 0)).toBe(namespace);
  });

  it("holds prom-client's four classes trawl uses, not its push gateway or process metrics", () => {
    // Those load `http`, `https`, `zlib`, `perf_hooks` and `v8` at every start (scripts/bundle.js).
    const source = readFileSync(join(repo, 'dist', 'bundle', 'main.cjs'), 'utf8');
    for (const file of ['registry', 'counter', 'gauge', 'histogram']) {
      expect(source).toContain(`node_modules/prom-client/lib/${file}.js`);
    }
    expect(source).not.toMatch(
      /node_modules\/prom-client\/(index|lib\/pushgateway|lib\/defaultMetrics)\.js/,
    );
  });

  it('runs as well when V8 refuses the cache (another Node, other flags, a damaged file)', () => {
    // Its mtime as the build recorded it, so bin/trawl.js hands it over and V8 alone decides.
    const cache = `${bundleFile()}.cache`;
    const bytes = readFileSync(cache);
    bytes.fill(0x5a, 0, 64);
    writeFileSync(cache, bytes);
    recordAsBuilt();
    const r = run('scan', join(tmp.path, 'data'), '--db', join(tmp.path, 'i.db'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(r.stderr).toBe('trawl: start: the bundle, code cache rejected\n');
  });

  it('does not hand V8 a code cache rewritten since the build', () => {
    const cache = `${bundleFile()}.cache`;
    writeFileSync(cache, readFileSync(cache));
    const r = run('scan', join(tmp.path, 'data'), '--db', join(tmp.path, 'i.db'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(r.stderr).toBe('trawl: start: the bundle, no code cache\n');
  });
});

/**
 * What the stamp relies on: tsc, built as tsconfig.build.json builds (`incremental`, the build
 * info in the output folder), rewrites its build info after every build that emitted — only
 * the files that changed, in place, as `tsc -w` does too — and writes nothing when nothing
 * changed (the bundle stays current).
 */
describe("tsc's build info as the bundle's stamp", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('trawl-stamp-');
  });
  afterEach(() => tmp?.cleanup());

  it('is rewritten by every build that emits, after the files it wrote', async () => {
    const build = JSON.parse(
      readFileSync(join(repo, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
    ).compilerOptions;
    expect(build).toMatchObject({ incremental: true, tsBuildInfoFile: 'dist/.tsbuildinfo' });
    const project = tmp.path;
    mkdirSync(join(project, 'src'));
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(project, 'src', 'b.ts'), 'export const b = 2;\n');
    const compilerOptions = {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      types: [],
      rootDir: 'src',
      outDir: 'dist',
      incremental: build.incremental,
      tsBuildInfoFile: build.tsBuildInfoFile,
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions }));
    const tsc = () => {
      const r = spawnSync(
        process.execPath,
        [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
        { encoding: 'utf8' },
      );
      expect(r.stdout + r.stderr).toBe('');
    };
    const mtime = (path: string) => statSync(join(project, 'dist', path)).mtimeMs;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    tsc();
    const first = { a: mtime('a.js'), b: mtime('b.js'), stamp: mtime('.tsbuildinfo') };
    expect(first.stamp).toBeGreaterThanOrEqual(Math.max(first.a, first.b));
    await pause();
    tsc();
    expect(mtime('.tsbuildinfo')).toBe(first.stamp);
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a = 3;\n');
    await pause();
    tsc();
    expect(mtime('a.js')).toBeGreaterThan(first.a);
    expect(mtime('b.js')).toBe(first.b);
    expect(mtime('.tsbuildinfo')).toBeGreaterThanOrEqual(mtime('a.js'));
    expect(mtime('.tsbuildinfo')).toBeGreaterThan(first.stamp);
  }, 60_000);
});
