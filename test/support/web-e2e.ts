/**
 * What the web page's end-to-end test drives: `trawl serve` in a process of its own (from
 * dist/), its admin API, and a local folder tree of awkward names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
/** `trawl` with memory://paced registered: a storage whose scan takes a known least time. */
const PACED_FIXTURE = join(REPO, 'test', 'fixtures', 'paced-scan.mjs');
const LISTENING = /^trawl serve: listening on (http:\/\/\S+)$/m;

export interface ServeProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves at exit. */
  stop(): Promise<void>;
}

/** memory://paced in the server: 60 directories of 5 files, each listing taking 50 ms. */
export const PACED = { dirs: 60, files: 5, latencyMs: 50 } as const;

/** Starts `trawl serve --port 0` (with memory://paced registered) and resolves once it printed its address. */
export function startServe(database: string, env: Record<string, string>): Promise<ServeProcess> {
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  const child = spawn(process.execPath, [PACED_FIXTURE, 'serve', '--port', '0', '--db', database], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PACED_DIRS: String(PACED.dirs),
      PACED_FILES: String(PACED.files),
      PACED_LATENCY_MS: String(PACED.latencyMs),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((done) => child.on('close', () => done()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail('no "listening on" line after 30 s'), 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`trawl serve: ${why}; output:\n${output}`));
    };
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = LISTENING.exec(output);
      if (!m) return;
      clearTimeout(timer);
      resolvePromise({ url: m[1]!, output: () => output, stop: () => stop(child, exited) });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('close', (code, signal) => fail(`exited (${code ?? signal}) before listening`));
  });
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

/** Calls the API; throws with the answer's body unless the status is the one expected. */
export async function call<T>(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  expected = body === undefined ? 200 : 201,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) {
    throw new Error(`${method} ${path}: expected ${expected}, got ${res.status}: ${text}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Creates a tenant and one token of it through the admin API; resolves to the token. */
export async function tenantToken(base: string, adminToken: string, name: string) {
  await call(base, adminToken, 'POST', '/v1/tenants', { name });
  const t = await call<{ token: string }>(base, adminToken, 'POST', `/v1/tenants/${name}/tokens`, {
    name: 'web-e2e',
  });
  return t.token;
}

/** Names in the tree the test looks for. */
export const TREE = {
  photos: 'Photos 2024',
  /** More files than one page of the browser (100), so "More" is needed. */
  photoCount: 120,
  summer: 'Summer trip',
  beachCount: 60,
  script: '<script>alert(1)<script>.txt',
  img: '<img src=x onerror=alert(1)>.txt',
  unicode: '日本語 フォルダ',
} as const;

/**
 * A few hundred files: names with spaces, Unicode (NFC and NFD), markup that must stay text,
 * and one folder larger than a page. Resolves to the number of files written.
 */
export function writeTree(root: string): number {
  let files = 0;
  const file = (path: string, bytes: number) => {
    writeFileSync(join(root, path), 'x'.repeat(bytes));
    files++;
  };
  const dir = (path: string) => mkdirSync(join(root, path), { recursive: true });
  dir(join(TREE.photos, TREE.summer));
  for (let i = 1; i <= TREE.photoCount; i++) {
    file(join(TREE.photos, `IMG_${String(i).padStart(4, '0')}.jpg`), i * 10);
  }
  for (let i = 1; i <= TREE.beachCount; i++)
    file(join(TREE.photos, TREE.summer, `beach ${i}.png`), i);
  dir('Docs');
  for (let i = 1; i <= 40; i++) file(join('Docs', `report ${i}.txt`), 100);
  file(join('Docs', TREE.script), 5);
  file(join('Docs', TREE.img), 5);
  file(join('Docs', 'Café ☕ menu.pdf'), 7);
  file(join('Docs', 'Cafe\u0301 decomposed.txt'), 7);
  dir(join('Music', 'Ünïcödé'));
  for (let i = 1; i <= 30; i++) file(join('Music', 'Ünïcödé', `track ${i}.mp3`), 1000);
  dir(TREE.unicode);
  for (let i = 1; i <= 20; i++) file(join(TREE.unicode, `写真 ${i}.jpg`), 50);
  file('read me.txt', 12);
  return files;
}
