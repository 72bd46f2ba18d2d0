/**
 * Milliseconds on a monotonic clock, as `performance.now()` counts them but from an arbitrary
 * origin: only differences mean anything. Not `performance`: the global loads Node's
 * `perf_hooks` (~1 ms of CPU) at its first use, which every scan made (bench:startup).
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}
