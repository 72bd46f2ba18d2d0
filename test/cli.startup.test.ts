import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin', 'trawl.js');
const distMain = pathToFileURL(join(repo, 'dist', 'cli', 'main.js')).href;
const moduleLog = join(repo, 'test', 'fixtures', 'module-log.mjs');
const builtinLog = join(repo, 'test', 'fixtures', 'builtin-log.cjs');
const gcCount = join(repo, 'test', 'fixtures', 'gc-count.cjs');
/** The node flags of bin/trawl.js's shebang: the bundle's code cache is made under them. */
const SHEBANG_FLAGS = readFileSync(bin, 'utf8')
  .split('\n')[0]!
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

/** Node's own modules bin/trawl.js loads beyond what every `node` process has (builtin-log.cjs). */
function builtinsLoaded(args: string[], home: string) {
  const log = join(home, `builtins-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, [...SHEBANG_FLAGS, '-r', builtinLog, bin, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, TRAWL_MODULE_LOG: log },
    timeout: 60_000,
  });
  const names = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, names };
}

/** What a local scan into SQLite must never load: the server, the fleet, PostgreSQL, remote SDKs. */
const NOT_FOR_A_LOCAL_SCAN = [
  'pg',
  'fastify',
  '@fastify/swagger',
  '@fastify/type-provider-typebox',
  'bullmq',
  'ioredis',
  '@aws-sdk/client-s3',
  'ssh2',
  'ssh2-sftp-client',
  '@tryjsky/v9u-smb2',
  'ajv',
  'typebox',
  'cron-parser',
];

interface Loaded {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Packages loaded from node_modules, by name. */
  packages: Set<string>;
  /** Files of this repository, relative to it (`dist/cli/main.js`). */
  files: string[];
  /** Node's own modules (`internal/deps/undici/undici`). */
  internal: Set<string>;
}

/**
 * Runs the command line with every module it loads written down (fixtures/module-log.mjs).
 * `dist`: the module-by-module build (dist/cli/main.js), where each file and package shows;
 * `bin`: bin/trawl.js as a user runs it (the bundle when it is current), where packages
 * left outside the bundle show.
 */
function loaded(via: 'dist' | 'bin', args: string[], home: string): Loaded {
  const log = join(home, `modules-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const entry =
    via === 'bin'
      ? [bin, ...args]
      : [
          '--input-type=module',
          '-e',
          `const { main } = await import(${JSON.stringify(distMain)});` +
            `process.exitCode = await main(['node', 'trawl', ...${JSON.stringify(args)}]);`,
        ];
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(moduleLog).href, ...entry], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, TRAWL_MODULE_LOG: log },
    timeout: 60_000,
  });
  const urls = new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean));
  const packages = new Set<string>();
  const files: string[] = [];
  const internal = new Set<string>();
  for (const url of urls) {
    if (url.startsWith('node:')) {
      internal.add(url.slice('node:'.length));
      continue;
    }
    const path = fileURLToPath(url);
    const inModules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (inModules) packages.add(inModules[1]!);
    else if (path.startsWith(repo + '/')) files.push(path.slice(repo.length + 1));
  }
  files.sort();
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, packages, files, internal };
}

const noPostgres = await skipDialect('postgres');

describe('what the command line loads to start', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
  });
  afterEach(() => tmp?.cleanup());

  it('answers --version from its entry alone: no command, no package, no database code', () => {
    tmp = tempDir('trawl-startup-');
    const r = loaded('dist', ['--version'], tmp.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('0.1.0\n');
    // stdio.js: stdout as the commands write it (a few lines over node:fs, src/cli/stdio.ts).
    expect(r.files).toEqual(['dist/cli/main.js', 'dist/cli/stdio.js', 'dist/cli/version.js']);
    expect([...r.packages]).toEqual([]);

    // As a user runs it (bundled or not): still no package at all.
    const asUser = loaded('bin', ['--version'], tmp.path);
    expect(asUser.stdout).toBe('0.1.0\n');
    expect([...asUser.packages]).toEqual([]);
    // With the bundle current, bin/trawl.js alone (it answers from the bundle's inputs.json);
    // with it stale, bin/trawl.js, dist/cli/main.js and dist/cli/version.js.
    expect(asUser.files.length).toBeLessThanOrEqual(3);
  });

  it("answers --version (bundle current) without loading one module of Node's own", () => {
    // No ES module loader (bin/trawl.js is CommonJS), no streams (fd 1 is written directly),
    // no vm: `trawl --version` costs what `node -e 0` does (bench:startup).
    tmp = tempDir('trawl-startup-');
    const r = builtinsLoaded(['--version'], tmp.path);
    expect(r).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
    expect(r.names).toEqual([]);
  });

  it('runs through its shebang with two malloc arenas, under the node flags it names', () => {
    // MALLOC_ARENA_MAX=2: the peak RSS of a 1,000,000-file scan (bin/trawl.js, bench:local).
    const shebang = readFileSync(bin, 'utf8').split('\n')[0]!;
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=2 node /);
    expect(SHEBANG_FLAGS).toEqual([
      '--max-old-space-size=1024',
      '--max-semi-space-size=2',
      '--min-semi-space-size=2',
    ]);
    tmp = tempDir('trawl-startup-');
    const r = spawnSync(bin, ['--version'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: tmp.path },
    });
    expect(r).toMatchObject({ status: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('scans an empty folder into an existing index without a garbage collection', () => {
    // The shebang's semi-spaces start at 2 MB and an empty scan allocates ~1.4 MB (compiled
    // from its code cache): no scavenge, where V8's 1 MB start paid two (bin/trawl.js,
    // bench:startup).
    tmp = tempDir('trawl-startup-');
    mkdirSync(join(tmp.path, 'data'));
    const scan = (...flags: string[]) =>
      spawnSync(
        process.execPath,
        [
          ...flags,
          '-r',
          gcCount,
          bin,
          'scan',
          join(tmp.path, 'data'),
          '--db',
          join(tmp.path, 'i.db'),
        ],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, HOME: tmp.path, TRAWL_DEBUG_START: '1' },
          timeout: 60_000,
        },
      );
    expect(scan(...SHEBANG_FLAGS).status).toBe(0); // the index made: the next one exists
    const r = scan(...SHEBANG_FLAGS);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/succeeded in/);
    expect(r.stderr).toBe('trawl: start: the bundle, code cache used\ngc: 0\n');
    // The count is real: without the shebang's flags (no cache, 1 MB semi-spaces) it is not 0.
    expect(scan().stderr).toMatch(/^gc: [1-9]/m);
  });

  it("scans a local folder without Node's child_process, network, crypto, thread or stream modules", () => {
    // Neither commander (executable subcommands) nor src/cli/passwd.ts (`getent`, for `~user`
    // paths only) loads child_process to start; the bundle requires each of Node's costlier
    // modules at its first use (scripts/bundle.js), the S3 agents load at connect
    // (s3-agents.ts), the lease token needs no crypto, the default logger no pino (so no
    // worker_threads), and stdout on a pipe is written without Node's stream (src/cli/stdio.ts).
    tmp = tempDir('trawl-startup-');
    mkdirSync(join(tmp.path, 'data'));
    const r = builtinsLoaded(
      ['scan', join(tmp.path, 'data'), '--db', join(tmp.path, 'i.db')],
      tmp.path,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^scan 1 of .*: succeeded in /);
    expect(r.names).toContain('NativeModule vm'); // the log sees what loads (the bundle's compile)
    for (const name of [
      'child_process',
      'crypto',
      'http',
      'https',
      'tls',
      'net',
      'stream',
      'worker_threads',
      'perf_hooks',
      'fs/promises',
      'assert',
      'dns/promises',
      'diagnostics_channel',
      // Node's ES module loader, which `node:module` and a CommonJS module's first load
      // (an addon by require()) start: the addons are loaded with process.dlopen.
      'module',
      'internal/modules/esm/loader',
    ]) {
      expect(r.names).not.toContain(`NativeModule ${name}`);
    }
  });

  it('scans a local folder without the FTP client', () => {
    // basic-ftp (and Node's TLS under it) loads at an FTP connection
    // (src/storage/backends/ftp-lib.ts), not with the storage registry.
    tmp = tempDir('trawl-startup-');
    mkdirSync(join(tmp.path, 'data'));
    for (const via of ['dist', 'bin'] as const) {
      const db = join(tmp.path, `${via}.db`);
      const r = loaded(via, ['scan', join(tmp.path, 'data'), '--db', db, '--json'], tmp.path);
      expect(r.code).toBe(0);
      expect(r.packages, via).not.toContain('basic-ftp');
    }
  });

  it('prints --help without the database layer, the app or the scan engine', () => {
    tmp = tempDir('trawl-startup-');
    const r = loaded('dist', ['--help'], tmp.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: trawl');
    expect(r.packages.has('commander')).toBe(true); // the log sees packages at all
    for (const name of [
      'kysely',
      'better-sqlite3',
      'pino',
      'prom-client',
      ...NOT_FOR_A_LOCAL_SCAN,
    ]) {
      expect(r.packages, name).not.toContain(name);
    }
    expect(r.files.filter((f) => /^dist\/(app\.js|db\/open\.js|scan\/)/.test(f))).toEqual([]);
  });

  it('scans a local folder into SQLite without the server, the fleet, PostgreSQL or remote SDKs', () => {
    tmp = tempDir('trawl-startup-');
    const root = join(tmp.path, 'data');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'x.txt'), '1');
    for (const via of ['dist', 'bin'] as const) {
      const db = join(tmp.path, `${via}.db`);
      // A fresh index (the migrations run), then one already current.
      for (const round of [1, 2]) {
        const r = loaded(via, ['scan', root, '--db', db, '--json'], tmp.path);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
        // The log sees what loads: better-sqlite3 by its files (dist), the entry (bin: the
        // package's JavaScript is inside the bundle, its addon loaded with process.dlopen).
        if (via === 'dist') expect(r.packages.has('better-sqlite3'), `round ${round}`).toBe(true);
        else expect(r.files, `round ${round}`).toContain('bin/trawl.js');
        for (const name of NOT_FOR_A_LOCAL_SCAN) {
          expect(r.packages, `${via} round ${round}: ${name}`).not.toContain(name);
        }
        const unwanted = /^dist\/(api\/server\.js|db\/postgres\/|jobs\/(fleet|worker|runners)\.js)/;
        expect(r.files.filter((f) => unwanted.test(f))).toEqual([]);
        if (via === 'dist') {
          expect(r.files).toContain('dist/app.js');
          // No other command's module (src/cli/program.ts loads the one it runs).
          expect(r.files.filter((f) => f.startsWith('dist/cli/commands/'))).toEqual([
            'dist/cli/commands/scan.js',
          ]);
          // Its bookkeeping is plain statements (db/sqlite/bookkeeping.ts), fresh index or not:
          // no query builder, no migration module.
          expect(r.packages, `round ${round}`).not.toContain('kysely');
          // Its storage metrics are no-ops: only `trawl serve` serves a registry (cli/context.ts).
          expect(r.packages, `round ${round}`).not.toContain('prom-client');
          expect(r.files).not.toContain('dist/observability/metrics.js');
          expect(r.files.filter((f) => f.startsWith('dist/db/migrations/0'))).toEqual([]);
          // The remote kinds' definitions (schemes, options) load with the registry; their
          // clients, with the protocol code under them, at a connect (storage/backends/deferred.ts).
          expect(r.files).toContain('dist/storage/backends/smb-backend.js');
          const remote = /^dist\/storage\/backends\/(ftp|s3|sftp|smb|webdav)(?!-backend\.js$)/;
          expect(r.files.filter((f) => remote.test(f))).toEqual([]);
          // The tables of listing times (`ls`, `find`) are not built for a scan's summary.
          expect(r.files).toContain('dist/cli/format.js');
          expect(r.files).not.toContain('dist/cli/iso-time.js');
        }
      }
    }
  });

  it.skipIf(noPostgres)(
    "finds in a PostgreSQL index without better-sqlite3 or Node's fetch (undici)",
    async () => {
      tmp = tempDir('trawl-startup-');
      const database = await createDatabase('postgres');
      try {
        for (const via of ['dist', 'bin'] as const) {
          const r = loaded(via, ['find', 'nothing', '--db', database.url], tmp.path);
          expect(r.stderr).toMatch(/^trawl: /); // no such storage: the index was opened
          expect(r.packages.has('pg'), via).toBe(true);
          expect(r.packages, via).not.toContain('better-sqlite3');
          expect(r.internal.has('internal/errors'), `${via}: the log sees Node's modules`).toBe(
            true,
          );
          expect(
            [...r.internal].filter((m) => m.includes('undici')),
            via,
          ).toEqual([]);
        }
      } finally {
        await database.drop();
      }
      // And no `navigator` is left behind for other code to see (Node 20 has none).
      const { connectPostgres } = await import('../src/db/postgres/connect.js');
      expect(connectPostgres).toBeTypeOf('function');
      expect('navigator' in globalThis && process.versions.node.startsWith('20.')).toBe(false);
    },
  );
});
