import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';
import { REDIS_URL, requireRedis } from './support/redis.js';
import { startAuthDav, type AuthDavServer } from './tools/webdav-auth.js';

const REPO = resolve(import.meta.dirname, '..');
const PASSWORD = `Dav-Pw-${randomBytes(6).toString('hex')}`;
const BASIC = Buffer.from(`alice:${PASSWORD}`).toString('base64');

/** The password (or its Basic-auth form) in any output is a leak. */
function expectNoSecret(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(BASIC);
  }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('trawl storages', () => {
  let dav: AuthDavServer;
  let dir: { path: string; cleanup: () => void };
  let db: string;
  let cli: (args: string[], env?: NodeJS.ProcessEnv, stdin?: string) => ReturnType<typeof runCli>;
  const outputs: string[] = [];

  beforeAll(async () => {
    dav = await startAuthDav('alice', PASSWORD);
  });
  afterAll(async () => dav?.close());
  beforeEach(() => {
    dir = tempDir('trawl-cli-storages-');
    db = join(dir.path, 'index.db');
    cli = async (args, env = {}, stdin) => {
      const run = await runCli([...args, '--db', db], env, stdin);
      outputs.push(run.stdout, run.stderr);
      return run;
    };
  });
  afterEach(() => {
    // Whatever a test ran, none of it printed the password.
    expectNoSecret(...outputs.splice(0));
    dir.cleanup();
  });

  it('adds, lists, shows, scans by name, edits, disables and removes a storage; never prints the password', async () => {
    const add = await cli(
      ['storages', 'add', dav.storageUrl, '--name', 'dav', '--password-stdin', '--every', '6h'],
      {},
      `${PASSWORD}\n`,
    );
    expect(add).toMatchObject({ code: 0, stderr: '' });
    expect(add.stdout).toBe(`added dav: webdav://alice@127.0.0.1:${dav.port}/dav\n`);

    const ls = await cli(['storages', 'ls', '--json']);
    expect(ls.code).toBe(0);
    const [listed] = jsonLines(ls.stdout);
    expect(listed).toMatchObject({
      name: 'dav',
      kind: 'webdav',
      location: `webdav://alice@127.0.0.1:${dav.port}/dav`,
      enabled: true,
      version: 1,
      schedule: { every: '6h' },
      nextRunAt: expect.any(String),
      options: { username: 'alice', password: '***' },
    });

    const scan = await cli(['scan', 'dav', '--json']);
    expect(scan.code).toBe(0);
    expect(JSON.parse(scan.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    expect(dav.seen.refused).toBe(0);
    const entries = await cli(['ls', 'dav', '--json']);
    expect(jsonLines(entries.stdout)).toEqual([
      { path: '/song.flac', type: 'file', size: 7, mtime: '2023-11-14T22:13:20.000Z' },
    ]);

    const show = await cli(['storages', 'show', 'dav', '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({
      name: 'dav',
      entries: 1,
      lastScans: [{ status: 'succeeded', files: 1 }],
    });
    const human = await cli(['storages', 'show', 'dav']);
    expect(human.stdout).toMatch(/^schedule +every 6h, next \d{4}-/m);
    expect(human.stdout).toMatch(/^ {2}password = \*\*\*$/m);

    const edited = await cli(['storages', 'edit', 'dav', '--set', 'timeoutMs=7000', '--json']);
    expect(JSON.parse(edited.stdout)).toMatchObject({ version: 2, options: { timeoutMs: 7000 } });
    const renamed = await cli([
      'storages',
      'edit',
      'dav',
      '--name',
      'music',
      '--cron',
      '0 3 * * *',
    ]);
    expect(renamed).toMatchObject({ code: 0, stdout: 'changed music\n' });

    expect((await cli(['storages', 'disable', 'music'])).stdout).toBe('disabled music\n');
    const refused = await cli(['scan', 'music']);
    expect(refused).toMatchObject({ code: 1 });
    expect(refused.stderr).toBe('trawl: storage music is disabled (trawl storages enable music)\n');
    const byUrl = await cli(['scan', dav.storageUrl]);
    expect(byUrl).toMatchObject({
      code: 1,
      stderr: 'trawl: storage music is disabled (trawl storages enable music)\n',
    });
    const enabled = await cli(['storages', 'enable', 'music', '--json']);
    expect(JSON.parse(enabled.stdout)).toMatchObject({
      name: 'music',
      enabled: true,
      schedule: { cron: '0 3 * * *' },
      options: { password: '***' },
    });

    const scans = await cli(['scans', '--json']);
    expect(jsonLines(scans.stdout)).toHaveLength(1);

    const rm = await cli(['storages', 'rm', 'music', '--json']);
    expect(JSON.parse(rm.stdout)).toEqual({ removed: 'music', id: 1, entries: 1 });
    const gone = await cli(['storages', 'show', 'music']);
    expect(gone).toMatchObject({ code: 1 });
    expect(gone.stderr).toBe('trawl: no storage named "music" (trawl storages ls shows them)\n');
    expect((await cli(['scans', '--json'])).stdout).toBe('');

    // The index file holds no trace of the password either.
    const raw = ['', '-wal']
      .map((s) => `${db}${s}`)
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expectNoSecret(raw);
  });

  it('keeps the stored password when the URL is scanned again without it', async () => {
    const first = await cli(['scan', dav.urlWithPassword, '--json']);
    expect(JSON.parse(first.stdout)).toMatchObject({ status: 'succeeded' });
    const refusedBefore = dav.seen.refused;
    const again = await cli(['scan', dav.storageUrl, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'succeeded', unchanged: 1 });
    expect(dav.seen.refused).toBe(refusedBefore); // the stored password was sent
    const ls = await cli(['storages', 'ls', '--json']);
    expect(jsonLines(ls.stdout)).toMatchObject([
      { name: '127.0.0.1-dav', version: 1, options: { password: '***' } },
    ]);
  });

  it('names the option of a bad value, and a bad schedule, in one line', async () => {
    const add = await cli(['storages', 'add', 'webdav://nas/dav?insecure=banana']);
    expect(add).toMatchObject({
      code: 1,
      stderr: 'trawl: Expected `insecure` to be true or false, got "banana" (INVALID_CONFIG)\n',
    });
    expect((await cli(['storages', 'add', 'memory://m', '--every', '5x'])).stderr).toMatch(
      /^trawl: Expected `--every` to be a duration like 30m, 6h, 1d or 1h30m .*got "5x"\n$/,
    );
    expect((await cli(['storages', 'add', 'memory://m', '--cron', 'banana'])).stderr).toMatch(
      /^trawl: Expected `--cron` to be 5 fields .* got "banana": 1 fields\n$/,
    );
    expect((await cli(['storages', 'add', 'memory://m', '--cron', '61 3 * * *'])).stderr).toMatch(
      /got "61 3 \* \* \*": .*0-59/,
    );
    expect((await cli(['storages', 'add', 'memory://m', '--name', 'a/b'])).stderr).toMatch(
      /^trawl: Expected a storage name of 1 to 64 letters/,
    );
    const ok = await cli(['storages', 'add', 'memory://m', '--name', 'm']);
    expect(ok.code).toBe(0);
    const edit = await cli(['storages', 'edit', 'm', '--set', 'volume']);
    expect(edit.stderr).toBe(`trawl: --set expects key=value, got "volume"\n`);
    expect((await cli(['storages', 'edit', 'm', '--unset', 'nope'])).stderr).toBe(
      'trawl: unknown memory option `nope`; known: volume\n',
    );
  });

  it('takes a name before a relative folder of the same name; ./name is the folder', async () => {
    const volume = `v-${randomBytes(3).toString('hex')}`;
    const tree = new MemoryTree();
    tree.writeFile('/only-in-memory.txt', 3);
    registerMemoryVolume(volume, tree);
    try {
      // `test` is also a folder of the working directory (the repository's test/).
      expect((await cli(['storages', 'add', `memory://${volume}`, '--name', 'test'])).code).toBe(0);
      const byName = await cli(['scan', 'test', '--json']);
      expect(JSON.parse(byName.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
      const folder = await cli(['scan', './test', '--dry-run', '--depth', '1', '--json']);
      expect(JSON.parse(folder.stdout).files).toBeGreaterThan(10);
    } finally {
      unregisterMemoryVolume(volume);
    }
  });

  it('fails clearly with a wrong key, and rotates the key file', async () => {
    const add = await cli(['storages', 'add', dav.urlWithPassword, '--name', 'dav']);
    expect(add.stderr).toMatch(
      /^trawl: note: a password on the command line is visible .*--password-stdin/,
    );
    const wrong = randomBytes(32).toString('hex');
    const bad = await cli(['scan', 'dav'], { TRAWL_SECRET_KEY: wrong });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^trawl: storage dav: the stored secret `password` was sealed with key [0-9a-f]{8}, but the keys configured are [0-9a-f]{8}: set TRAWL_SECRET_KEY/,
    );
    expect(bad.stdout).toBe('');
    const keyFile = join(dir.path, 'secret.key');
    const before = readFileSync(keyFile, 'utf8');
    const rotate = await cli(['secrets', 'rotate', '--json']);
    expect(JSON.parse(rotate.stdout)).toMatchObject({ storages: 1, secrets: 1 });
    expect(readFileSync(keyFile, 'utf8')).not.toBe(before);
    const scan = await cli(['scan', 'dav', '--json']);
    expect(JSON.parse(scan.stdout)).toMatchObject({ status: 'succeeded' });
    // The key file that was rotated away no longer opens anything.
    const old = join(dir.path, 'old.key');
    writeFileSync(old, before, { mode: 0o600 });
    const stale = await cli(['scan', 'dav'], { TRAWL_SECRET_KEY_FILE: old });
    expect(stale.stderr).toMatch(/was sealed with key [0-9a-f]{8}, but the keys configured are/);
  });

  it('asks for --yes before removing on a terminal', async () => {
    await cli(['storages', 'add', 'memory://x', '--name', 'x']);
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const env = { TRAWL_TENANT: 'default' };
    const code = await main(['node', 'trawl', 'storages', 'rm', 'x', '--db', db], {
      stdout,
      stderr,
      env,
    });
    expect(code).toBe(1);
    expect(err).toMatch(/this removes x \(memory:\/\/x\) with its 0 index entries .*--yes/);
    expect((await cli(['storages', 'ls', '--json'])).stdout).toContain('"name":"x"');
    expect(
      await main(['node', 'trawl', 'storages', 'rm', 'x', '--yes', '--db', db], {
        stdout,
        stderr,
        env,
      }),
    ).toBe(0);
  });
});

const run = promisify(execFile);
const redisUp = await requireRedis();

describe('trawl storages, as processes', () => {
  let dav: AuthDavServer;
  let dir: { path: string; cleanup: () => void };
  beforeAll(async () => {
    dav = await startAuthDav('alice', PASSWORD);
    dir = tempDir('trawl-cli-storages-proc-');
  });
  afterAll(async () => {
    await dav?.close();
    dir?.cleanup();
  });

  const trawl = async (args: string[], env: NodeJS.ProcessEnv, input?: string) => {
    const child = run(process.execPath, [join(REPO, 'bin', 'trawl.js'), ...args], {
      cwd: dir.path,
      env: { PATH: process.env.PATH, HOME: dir.path, ...env },
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      const { stdout, stderr } = await child;
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('logs at debug level and queues jobs without the password anywhere', async () => {
    const db = join(dir.path, 'data', 'index.db');
    mkdirSync(join(dir.path, 'data'), { recursive: true });
    const env = { TRAWL_DATABASE_URL: db, TRAWL_LOG_LEVEL: 'debug' };
    const add = await trawl(
      ['storages', 'add', dav.storageUrl, '--name', 'dav', '--password-stdin', '--json'],
      env,
      PASSWORD,
    );
    expect(add.code).toBe(0);
    const scan = await trawl(['scan', 'dav', '--json'], env);
    expect(scan.code).toBe(0);
    expect(JSON.parse(scan.stdout)).toMatchObject({ status: 'succeeded', files: 1 });
    // The debug log was written (the client connected with the password) and holds none of it.
    expect(scan.stderr).toMatch(/"msg":"storage connected"/);
    expect(dav.authorizations).toContain(`Basic ${BASIC}`);
    const show = await trawl(['storages', 'show', 'dav', '--json'], env);
    expectNoSecret(add.stdout, add.stderr, scan.stdout, scan.stderr, show.stdout, show.stderr);
    const raw = ['', '-wal']
      .map((s) => `${db}${s}`)
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expectNoSecret(raw);

    if (!redisUp) return;
    const prefix = `tstor${randomBytes(4).toString('hex')}`;
    const queued = await trawl(['scan', 'dav', '--enqueue', '--json'], {
      ...env,
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: prefix,
    });
    expect(queued.code).toBe(0);
    expectNoSecret(queued.stdout, queued.stderr);
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`*${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      let dump = '';
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
        else if (type === 'string') dump += await redis.get(key);
        else if (type === 'list') dump += (await redis.lrange(key, 0, -1)).join();
        else if (type === 'zset') dump += (await redis.zrange(key, 0, -1)).join();
        else if (type === 'set') dump += (await redis.smembers(key)).join();
        else if (type === 'stream') dump += JSON.stringify(await redis.xrange(key, '-', '+'));
      }
      expect(dump).toMatch(/storageId\\?":1/); // the job is there: ids, never options
      expectNoSecret(dump);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      await redis.quit();
    }
  });
});
