/**
 * The listing rate of one large directory over SFTP (OpenSSH) and SMB (Samba) on loopback:
 * entries per second, the client's CPU time per entry (steadier than wall time on a shared
 * machine) and the heap the client holds while it lists (no proxy, no database: the client
 * alone).
 *
 *   npx tsc -p bench/tsconfig.listing-rate.json &&
 *     node --expose-gc .bench/listing-rate-build/bench/listing-rate.js
 *
 * Flags: --entries N (20000), --runs N (5; the median is printed), --only sftp|smb.
 * Needs root (the servers serve as the test user, see test/servers/system-user.ts).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sftpBackend } from '../src/storage/backends/sftp-backend.js';
import { smbBackend } from '../src/storage/backends/smb-backend.js';
import type { StorageClient } from '../src/storage/types.js';
import { startSamba } from '../test/servers/samba.js';
import { startSshd } from '../test/servers/sshd.js';
import { tempDir } from '../test/support/harness.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const ENTRIES = Number(flag('entries', '20000'));
const RUNS = Number(flag('runs', '5'));
const ONLY = flag('only', '');

async function measure(name: string, client: StorageClient, dir: string): Promise<void> {
  await client.connect();
  const rates: number[] = [];
  const cpu: number[] = [];
  let pages = 0;
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    let count = 0;
    pages = 0;
    for await (const page of client.list(dir)) {
      count += page.length;
      pages++;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpuBefore);
    if (count !== ENTRIES) throw new Error(`${name}: listed ${count} of ${ENTRIES}`);
    rates.push(count / seconds);
    cpu.push((used.user + used.system) / count);
  }
  // Memory, in a run of its own (collecting at every page would distort the rate): the
  // most the heap held after a full collection while the listing was under way.
  const gc = globalThis.gc;
  let retained = Number.NaN;
  if (gc) {
    gc();
    const base = process.memoryUsage().heapUsed;
    retained = 0;
    for await (const page of client.list(dir)) {
      void page;
      gc();
      retained = Math.max(retained, process.memoryUsage().heapUsed - base);
    }
  }
  await client.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const n = (x: number) => Math.round(x).toLocaleString('en');
  console.log(
    `${name.padEnd(5)} ${n(ENTRIES)} entries in ${pages} pages: ${n(median(rates))} entries/s ` +
      `(median of ${RUNS}, ${n(Math.min(...rates))}–${n(Math.max(...rates))}), ` +
      `client CPU ${median(cpu).toFixed(1)} µs/entry, ` +
      `heap held while listing ${(retained / 2 ** 20).toFixed(1)} MiB${gc ? '' : ' (run with --expose-gc)'}`,
  );
}

const tmp = tempDir('trawl-listing-rate-');
try {
  chmodSync(tmp.path, 0o755);
  const root = join(tmp.path, 'root');
  const big = join(root, 'big');
  mkdirSync(big, { recursive: true });
  for (let i = 0; i < ENTRIES; i++) writeFileSync(join(big, `file-${i}.jpg`), '');
  chmodSync(root, 0o755);

  if (ONLY === '' || ONLY === 'sftp') {
    const sshd = await startSshd();
    try {
      const options = sftpBackend.parseOptions({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        password: sshd.password,
        root,
        hostKey: sshd.hostKey,
      });
      await measure('sftp', sftpBackend.create(options, { env: {} }), '/big');
    } finally {
      await sshd.stop();
    }
  }
  if (ONLY === '' || ONLY === 'smb') {
    const samba = await startSamba(root);
    try {
      const options = smbBackend.parseOptions({
        host: samba.host,
        port: samba.port,
        share: samba.share,
        user: samba.user,
        password: samba.password,
      });
      await measure('smb', smbBackend.create(options, { env: {} }), '/big');
    } finally {
      await samba.stop();
    }
  }
} finally {
  tmp.cleanup();
}
