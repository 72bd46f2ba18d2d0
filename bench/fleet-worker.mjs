// A `trawl worker` (from dist/) for bench:fleet, with the bench's memory volumes registered
// in its own process: memory://fleet-0 … memory://fleet-<N-1>, every worker process building
// the same trees. Usage: node bench/fleet-worker.mjs worker [--concurrency N].
// From the environment: FLEET_STORAGES (200) volumes, each FLEET_TOP (10) directories of
// FLEET_SUB (5) subdirectories of FLEET_FILES (5) files, FLEET_LATENCY_MS (10) per listing.
import { main } from '../dist/cli/main.js';
import { MemoryTree } from '../dist/storage/backends/memory-tree.js';
import { registerMemoryVolume } from '../dist/storage/backends/memory.js';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const storages = env('FLEET_STORAGES', 200);
for (let s = 0; s < storages; s++) {
  const tree = new MemoryTree();
  for (let t = 0; t < env('FLEET_TOP', 10); t++) {
    for (let u = 0; u < env('FLEET_SUB', 5); u++) {
      for (let f = 0; f < env('FLEET_FILES', 5); f++) {
        tree.writeFile(`/t${t}/s${u}/f${f}.mkv`, 1000 + f, 1_700_000_000_000 + s);
      }
    }
  }
  tree.latencyMs = env('FLEET_LATENCY_MS', 10);
  registerMemoryVolume(`fleet-${s}`, tree);
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
