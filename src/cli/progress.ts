import type { ScanProgress } from '../scan/result.js';
import type { OutStream } from './context.js';
import { formatBytes, formatCount } from './format.js';

/**
 * A one-line live display on a TTY (stderr, so stdout stays clean for --json).
 * Does nothing when stderr is not a terminal.
 */
export class ProgressLine {
  readonly #stream: OutStream;
  readonly #enabled: boolean;
  #shown = false;

  constructor(stream: OutStream = process.stderr) {
    this.#stream = stream;
    this.#enabled = stream.isTTY === true;
  }

  update = (p: ScanProgress): void => {
    if (!this.#enabled) return;
    const secs = Math.max(p.elapsedMs / 1000, 0.001);
    const rate = Math.round((p.files + p.dirs) / secs);
    let line =
      `dirs ${formatCount(p.dirsListed)} listed / ${formatCount(p.dirsQueued)} queued · ` +
      `files ${formatCount(p.files)} (${formatBytes(p.bytes)}) · ${formatCount(rate)} entries/s`;
    if (p.errors) line += ` · errors ${formatCount(p.errors)}`;
    if (p.retries) line += ` · retries ${formatCount(p.retries)}`;
    if (p.rateLimitWaits) line += ` · rate-limited ${formatCount(p.rateLimitWaits)}×`;
    const width = this.#stream.columns || 100;
    this.#stream.write(`\r${line.slice(0, width - 1)}\u001b[K`);
    this.#shown = true;
  };

  clear(): void {
    if (this.#shown) this.#stream.write('\r\u001b[K');
    this.#shown = false;
  }
}
