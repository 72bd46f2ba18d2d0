/**
 * The FTP listing rate: a LIST listing of N lines (vsftpd's format) read the way the backend
 * reads its data connection (64 KiB chunks through LineSplitter, parseLine and ListingPager),
 * then the same listing end to end through the FTP client against a local server
 * (test/tools/hostile-ftp.ts answering it in full), with the heap held while it streams.
 *
 *   npx tsc -p bench/tsconfig.ftp-listing.json && node --expose-gc .bench/ftp-listing-build/bench/ftp-listing.js
 *
 * Flags: --lines N (100000), --runs N (7; the median is printed).
 */
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import { LineSplitter, parseLine } from '../src/storage/backends/ftp-listing.js';
import { ListingPager } from '../src/storage/pager.js';
import { listLine, startHostileFtp } from '../test/tools/hostile-ftp.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const LINES = Number(flag('lines', '100000'));
const RUNS = Number(flag('runs', '7'));

const lines = Array.from({ length: LINES }, (_, i) =>
  listLine(`file-${String(i).padStart(7, '0')}.jpg`, i * 37),
);
const bytes = Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
const n = (x: number) => Math.round(x).toLocaleString('en');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function parseOnce(): number {
  const splitter = new LineSplitter();
  const pager = new ListingPager('/d', { where: 'bench' });
  const now = Date.now();
  let count = 0;
  const take = (ls: ReturnType<LineSplitter['push']>) => {
    for (const line of ls) {
      const r = parseLine('LIST', line, now);
      if (r === undefined || typeof r === 'string') throw new Error(`bad line: ${String(r)}`);
      const page = pager.add(r);
      if (page) count += page.length;
    }
  };
  for (let at = 0; at < bytes.length; at += 65_536)
    take(splitter.push(bytes.subarray(at, at + 65_536)));
  take(splitter.end());
  count += pager.take().length;
  pager.finish();
  return count;
}

const parseRates: number[] = [];
parseOnce(); // warm-up
for (let run = 0; run < RUNS; run++) {
  const started = process.hrtime.bigint();
  const count = parseOnce();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (count !== LINES) throw new Error(`parsed ${count} of ${LINES}`);
  parseRates.push(count / seconds);
}
console.log(
  `parse  ${n(LINES)} LIST lines (${(bytes.length / 2 ** 20).toFixed(1)} MiB): ${n(median(parseRates))} lines/s ` +
    `(median of ${RUNS}, ${n(Math.min(...parseRates))}–${n(Math.max(...parseRates))})`,
);

const ftpd = await startHostileFtp({ dirs: { '/': { lines } } });
const client = ftpBackend.create(
  ftpBackend.parseOptions({ host: ftpd.host, port: ftpd.port, user: 'u', password: 'p' }),
  { env: {} },
);
try {
  await client.connect();
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    let count = 0;
    for await (const page of client.list('/')) count += page.length;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (count !== LINES) throw new Error(`listed ${count} of ${LINES}`);
    rates.push(count / seconds);
  }
  const gc = globalThis.gc;
  let held = Number.NaN;
  if (gc) {
    gc();
    const base = process.memoryUsage().heapUsed;
    held = 0;
    let pages = 0;
    for await (const page of client.list('/')) {
      void page;
      // A full collection per page would take minutes on a heap holding a large fixture.
      if (pages++ % 10 !== 0) continue;
      gc();
      held = Math.max(held, process.memoryUsage().heapUsed - base);
    }
  }
  console.log(
    `client ${n(LINES)} entries over loopback: ${n(median(rates))} entries/s ` +
      `(median of ${RUNS}, ${n(Math.min(...rates))}–${n(Math.max(...rates))}), ` +
      `heap held while listing ${(held / 2 ** 20).toFixed(1)} MiB${gc ? '' : ' (run with --expose-gc)'} ` +
      `(the listing's text alone is ${(bytes.length / 2 ** 20).toFixed(1)} MiB)`,
  );
} finally {
  await client.close();
  await ftpd.close();
}
