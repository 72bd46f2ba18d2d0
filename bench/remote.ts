/**
 * npm run bench:remote — trawl over a real network protocol against the ideal bound of a
 * walk and against rclone, in the same run.
 *
 * A tree of 2,000 directories (40 × 49 below the root) and 20,000 files (10 in each) is
 * served on 127.0.0.1 by a real server behind a TCP proxy that adds a fixed latency each way
 * (10 ms; Nagle off on both legs). For each target:
 *   - round trip: the median of single listings of one 10-file directory, one at a time;
 *   - ideal bound: listings (directories + the root) × round trip ÷ concurrency;
 *   - trawl: `node bin/trawl.js scan <url> --json --workers N` as a child process, into a
 *     fresh SQLite file (first scan), then again (unchanged rescan);
 *   - rclone: `rclone lsjson -R --checkers N` through the same proxy.
 * and prints the ratios. Targets: trawl ≤ 1.3 × the bound, and faster than rclone.
 *
 * Targets are rows of TARGETS below: WebDAV (Apache mod_dav) here, SFTP (OpenSSH) and SMB
 * (Samba) from remote-rows.ts (a server for the tree, a trawl URL, rclone's flags, one listing).
 *
 * Flags: --latency MS (10), --concurrency N (8), --runs N (1; medians), --only NAME,
 *        --skip-rclone.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, resolve } from 'node:path';
import { startApache } from '../test/servers/apache.js';
import { sftpAndSmbTargets } from './remote-rows.js';
import { findBinary } from '../test/servers/util.js';
import { startTcpProxy, type TcpProxy } from '../test/tools/tcp-proxy.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const LATENCY = Number(flag('latency', '10'));
const CONCURRENCY = Number(flag('concurrency', '8'));
const RUNS = Number(flag('runs', '1'));
const ONLY = flag('only');
const SKIP_RCLONE = args.includes('--skip-rclone');

const REPO = resolve(import.meta.dirname, '../../..');
const TOP = 40;
const SUB = 49;
const FILES = 10;
const DIRS = TOP + TOP * SUB;
const LISTINGS = DIRS + 1;

/** One protocol under test: how to serve the tree, reach it through the proxy, and time one listing. */
interface Target {
  name: string;
  /** Binaries it needs; a missing one skips the row. */
  needs: string[];
  start(root: string): Promise<{
    /** Port the proxy forwards to. */
    port: number;
    /** trawl's storage URL through the proxy on `proxyPort`. */
    url(proxyPort: number): string;
    /** rclone arguments naming the remote through the proxy. */
    rclone(proxyPort: number): string[];
    /** One listing of a 10-file directory through the proxy (for the round trip). */
    listOnce(proxyPort: number): Promise<void>;
    stop(): Promise<void>;
  }>;
}

const PROPFIND =
  '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>' +
  '<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/></d:prop></d:propfind>';

const TARGETS: Target[] = [
  {
    name: 'webdav (Apache mod_dav)',
    needs: ['apache2', 'rclone'],
    async start(root) {
      const apache = await startApache({ root });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      return {
        port: apache.port,
        url: (p) => `webdav://127.0.0.1:${p}/pub?maxConcurrency=${CONCURRENCY}`,
        rclone: (p) => ['--webdav-url', `http://127.0.0.1:${p}/pub`, ':webdav:'],
        listOnce: (p) =>
          new Promise<void>((done, fail) => {
            const req = request(
              {
                host: '127.0.0.1',
                port: p,
                method: 'PROPFIND',
                path: '/pub/t00/s00/',
                agent,
                headers: { Depth: '1', 'Content-Type': 'application/xml' },
              },
              (res) => {
                res.resume();
                res.on('end', () =>
                  res.statusCode === 207 ? done() : fail(new Error(`PROPFIND: ${res.statusCode}`)),
                );
              },
            );
            req.on('error', fail);
            req.end(PROPFIND);
          }),
        async stop() {
          agent.destroy();
          await apache.stop();
        },
      };
    },
  },
  ...sftpAndSmbTargets(CONCURRENCY),
];

function ensureTree(base: string): string {
  const root = join(base, `remote-tree-${DIRS}-${FILES}`);
  const marker = `${root}.complete`;
  if (existsSync(marker) && existsSync(root)) return root;
  rmSync(root, { recursive: true, force: true });
  const payload = Buffer.alloc(1024, 0x61);
  const fill = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES; f++)
      writeFileSync(join(dir, `f${f}.mkv`), payload.subarray(0, f * 37));
  };
  for (let t = 0; t < TOP; t++) {
    const top = join(root, `t${String(t).padStart(2, '0')}`);
    fill(top);
    for (let s = 0; s < SUB; s++) fill(join(top, `s${String(s).padStart(2, '0')}`));
  }
  writeFileSync(marker, '');
  return root;
}

function run(cmd: string, argv: string[]): Promise<{ ms: number; stdout: string; code: number }> {
  const started = performance.now();
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0 && code !== 2) {
        fail(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${stderr.slice(0, 2000)}`));
      } else {
        done({ ms, stdout, code: code ?? -1 });
      }
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function roundTrip(listOnce: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 5; i++) await listOnce(); // connection and caches warm
  const samples: number[] = [];
  for (let i = 0; i < 41; i++) {
    const t = performance.now();
    await listOnce();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

async function benchTarget(target: Target, root: string, work: string): Promise<void> {
  const server = await target.start(root);
  let proxy: TcpProxy | undefined;
  try {
    proxy = await startTcpProxy({ targetPort: server.port, latencyMs: LATENCY });
    const p = proxy.port;
    const rtt = await roundTrip(() => server.listOnce(p));
    const ideal = (LISTINGS * rtt) / CONCURRENCY;
    const first: number[] = [];
    const rescan: number[] = [];
    const firstWall: number[] = [];
    const rcloneMs: number[] = [];
    let summary: Record<string, unknown> = {};
    for (let r = 0; r < RUNS; r++) {
      const db = join(work, `bench-${r}.db`);
      rmSync(db, { force: true });
      const argv = [
        'bin/trawl.js',
        'scan',
        server.url(p),
        '--json',
        '--workers',
        String(CONCURRENCY),
        '--db',
        db,
      ];
      const a = await run(process.execPath, argv);
      summary = JSON.parse(a.stdout) as Record<string, unknown>;
      if (
        summary.status !== 'succeeded' ||
        summary.dirs !== DIRS ||
        summary.files !== DIRS * FILES
      ) {
        throw new Error(`trawl scan did not list the whole tree: ${a.stdout}`);
      }
      first.push(summary.durationMs as number);
      firstWall.push(a.ms);
      const b = await run(process.execPath, argv);
      rescan.push((JSON.parse(b.stdout) as { durationMs: number }).durationMs);
      if (!SKIP_RCLONE) {
        const rc = await run('rclone', [
          'lsjson',
          '-R',
          '--checkers',
          String(CONCURRENCY),
          '--config',
          '/dev/null',
          ...server.rclone(p),
        ]);
        const count = (JSON.parse(rc.stdout) as unknown[]).length;
        if (count !== DIRS + DIRS * FILES) throw new Error(`rclone listed ${count} entries`);
        rcloneMs.push(rc.ms);
      }
    }
    const t = median(first);
    console.log(
      `\n${target.name}: ${DIRS} dirs, ${DIRS * FILES} files, +${LATENCY} ms each way, concurrency ${CONCURRENCY}`,
    );
    console.log(`  round trip (median of 41 single listings)  ${rtt.toFixed(1)} ms`);
    console.log(`  ideal bound (${LISTINGS} × rtt ÷ ${CONCURRENCY})          ${sec(ideal)}`);
    console.log(
      `  trawl first scan (durationMs)             ${sec(t)}   ${ratio(t, ideal)} the bound`,
    );
    console.log(`  trawl first scan (process wall)           ${sec(median(firstWall))}`);
    console.log(
      `  trawl unchanged rescan (durationMs)       ${sec(median(rescan))}   ${ratio(median(rescan), ideal)} the bound`,
    );
    if (rcloneMs.length) {
      const rc = median(rcloneMs);
      console.log(
        `  rclone lsjson -R --checkers ${CONCURRENCY} (wall)      ${sec(rc)}   ${ratio(rc, ideal)} the bound`,
      );
      console.log(
        `  trawl vs rclone                           ${(rc / median(firstWall)).toFixed(2)}× faster (wall vs wall)`,
      );
    }
    console.log(
      `  retries ${String(summary.retries)}, rate-limit waits ${String(summary.rateLimitWaits)}`,
    );
  } finally {
    await proxy?.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const base = join(REPO, '.bench');
  mkdirSync(base, { recursive: true });
  const root = ensureTree(base);
  const work = join(base, `remote-work-${process.pid}`);
  mkdirSync(work, { recursive: true });
  try {
    for (const target of TARGETS) {
      if (ONLY && !target.name.startsWith(ONLY)) continue;
      const missing = target.needs.filter((b) => !findBinary(b));
      if (missing.length) {
        console.log(`\n${target.name}: skipped (missing ${missing.join(', ')})`);
        continue;
      }
      await benchTarget(target, root, work);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
