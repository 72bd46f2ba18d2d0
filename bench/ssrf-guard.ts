/**
 * npm run bench:ssrf — what the SSRF guard costs: one decision (classify an address, look it
 * up in the allowlist), and one new HTTP connection on loopback with and without a guarded
 * agent (the guarded lookup resolves with the system resolver, as Node's own does, then
 * checks every answer). Keep-alive is off so that every request opens a connection: the
 * worst case; a storage's requests normally reuse kept-alive connections and pay nothing.
 *
 * Flags: --requests N (2000 per variant), --rounds N (5, interleaved; the median is printed).
 */
import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressPolicy } from '../src/storage/net/address-policy.js';
import { guardAgent } from '../src/storage/net/guard.js';

const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = flag('requests', 2000);
const ROUNDS = flag('rounds', 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** ns per decision over `addresses` (all allowed, or all refused: a refusal builds its error). */
function decisions(addresses: string[]): number {
  const policy = new AddressPolicy({ allowNetworks: ['10.0.0.0/8', 'fd00::/8', 'nas.local'] });
  const n = 300_000;
  const start = process.hrtime.bigint();
  let refused = 0;
  for (let i = 0; i < n; i++) {
    if (policy.refusal('storage.example', addresses[i % addresses.length]!)) refused++;
  }
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (refused !== 0 && refused !== n) throw new Error('a mixed set: the bench measures two things');
  return ns;
}

async function requests(port: number, host: string, agent: Agent): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    await new Promise<void>((resolve, reject) => {
      get({ host, port, agent, path: '/' }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  }
  return (performance.now() - start) / REQUESTS;
}

async function main(): Promise<void> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const policy = new AddressPolicy({ allowNetworks: ['127.0.0.1/32'] });
  const allowed = ['93.184.215.14', '10.1.2.3', '2606:4700::1', 'fd00::5', '::ffff:8.8.8.8'];
  const refused = ['127.0.0.1', '::ffff:169.254.169.254', '192.168.1.1', 'fe80::1', '::1'];
  for (const [what, set] of [
    ['allowed', allowed],
    ['refused', refused],
  ] as const) {
    const ns = median(Array.from({ length: ROUNDS }, () => decisions([...set])));
    console.log(`decision, ${what} address: ${ns.toFixed(0)} ns`);
  }
  for (const host of ['127.0.0.1', 'localhost']) {
    const plain: number[] = [];
    const guarded: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      plain.push(await requests(port, host, new Agent({ keepAlive: false })));
      guarded.push(await requests(port, host, guardAgent(new Agent({ keepAlive: false }), policy)));
    }
    const p = median(plain);
    const g = median(guarded);
    console.log(
      `new connection + GET to ${host}: ${p.toFixed(3)} ms plain, ${g.toFixed(3)} ms guarded (×${(g / p).toFixed(2)}, +${((g - p) * 1000).toFixed(0)} µs)`,
    );
  }
  server.close();
}

await main();
