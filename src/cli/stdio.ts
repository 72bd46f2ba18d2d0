import { fstatSync, statSync, writeSync } from 'node:fs';
import type { OutStream } from './context.js';

/**
 * Whether `fd` is a character device other than /dev/null (`trawl scan … >/dev/null` from
 * cron is no terminal). A closed fd counts as one: Node's stream knows what to do with it.
 */
function mayBeTerminal(fd: number): boolean {
  try {
    const stats = fstatSync(fd);
    return stats.isCharacterDevice() && stats.rdev !== statSync('/dev/null').rdev;
  } catch {
    return true;
  }
}

/** The parts of Node's stdio stream that commands read besides `write` (index-read.ts). */
type Stdio = NodeJS.WriteStream;

/**
 * fd 1 or 2 for the command line, written with `fs.writeSync` while Node's stream for it is
 * not needed: `process.stdout` on a pipe is a `net.Socket`, and making it loads `net`, the
 * streams and what they require (~3 ms of CPU, a tenth of an empty scan's start beyond
 * Node's own; bench:startup). Node itself writes stdio files and pipes synchronously on
 * Linux, so the order of lines is the same either way.
 *
 * The stream is made (by `open`) and takes over for good: at once when the fd may be a
 * terminal (`isTTY`, `columns`, a progress line), and at the first write
 * that fails (a full non-blocking pipe answers EAGAIN; a closed one EPIPE): the rest of that
 * write goes to the stream, which waits, or emits the error the caller's handler hears, as
 * before.
 */
export class StdioOut implements OutStream {
  readonly #fd: number;
  readonly #open: () => Stdio;
  #stream: Stdio | undefined;

  constructor(fd: number, open: () => Stdio) {
    this.#fd = fd;
    this.#open = open;
    if (mayBeTerminal(fd)) this.#stream = open();
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.#stream) return this.#stream.write(chunk);
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    try {
      while (bytes.length > 0) bytes = bytes.subarray(writeSync(this.#fd, bytes));
      return true;
    } catch {
      return this.#real().write(bytes);
    }
  }

  get isTTY(): boolean {
    return this.#stream?.isTTY === true;
  }

  get columns(): number | undefined {
    return this.#stream?.columns;
  }

  /** Bytes the stream holds unwritten: none while writes are synchronous. */
  get writableLength(): number {
    return this.#stream?.writableLength ?? 0;
  }

  get destroyed(): boolean {
    return this.#stream?.destroyed === true;
  }

  once(event: string, listener: () => void): this {
    this.#real().once(event, listener);
    return this;
  }

  removeListener(event: string, listener: () => void): this {
    this.#real().removeListener(event, listener);
    return this;
  }

  #real(): Stdio {
    return (this.#stream ??= this.#open());
  }
}
