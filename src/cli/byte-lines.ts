import type { OutStream } from './context.js';
import { formatBytes } from './format.js';
import { DAY, isoByHand, isoDate } from './iso-time.js';

/**
 * Lines of output gathered as UTF-8 bytes into writes of about {@link WRITE_BYTES} (a write
 * per line costs a system call each), or of {@link WRITE_MS} age at most, so that a slow
 * query's first lines still show.
 *
 * Bytes, not a string: a 64 kB string built by `+=` is a tree of a few thousand pieces that
 * every young collection of V8 copies while it grows (the semi-space is 2 MB: bin/trawl.js).
 * `find --name '*.jpg' --json` over 1,000,000 entries (276,300 lines) spent 1.19 s of its
 * CPU in scavenges that way (bench/find.ts), the table 0.45 s.
 */
export class ByteLines {
  readonly #out: OutStream;
  #buffer = Buffer.allocUnsafe(CAPACITY);
  #used = 0;
  #since = 0;

  constructor(out: OutStream) {
    this.#out = out;
  }

  /** Text of code points below 0x80 only (digits, ISO times, units, padding). */
  ascii(text: string): void {
    this.#room(text.length);
    const b = this.#buffer;
    let n = this.#used;
    for (let i = 0; i < text.length; i++) b[n++] = text.charCodeAt(i);
    this.#used = n;
  }

  /**
   * `ms` as {@link isoMtime} writes it (never 0: no time), without the string: the day's
   * date kept, the time of day's digits written here. Returns the characters written.
   */
  isoTime(ms: number): number {
    if (!isoByHand(ms)) {
      const text = new Date(ms).toISOString();
      this.ascii(text);
      return text.length;
    }
    const time = ms % DAY;
    this.ascii(isoDate(ms - time));
    this.#room(13);
    const b = this.#buffer;
    let n = this.#used;
    const s = Math.floor(time / 1000);
    n = two(b, n, Math.floor(s / 3600));
    b[n++] = COLON;
    n = two(b, n, Math.floor(s / 60) % 60);
    b[n++] = COLON;
    n = two(b, n, s % 60);
    b[n++] = DOT;
    const milli = time % 1000;
    b[n++] = ZERO + Math.floor(milli / 100);
    n = two(b, n, milli % 100);
    b[n++] = Z;
    this.#used = n;
    return 24;
  }

  /**
   * {@link formatBytes}`(n).padStart(width)`, the digits of a whole number of bytes below
   * 10^12 (kB, MB, GB) worked out from integers, not with `toFixed` and two strings (a
   * tenth of a 276,300-line table's CPU). Exact: `toFixed(1)` rounds the quotient's double
   * half up, and below 10^12 that double (three divisions: off by under 3.4e-13) is nearer
   * the true quotient than the quotient is to a rounding point (at least 1e-10 away) unless
   * it is one; a quotient that is exactly one (rounded either way as its double lies), and
   * anything else, goes through formatBytes (test/cli.byte-lines.test.ts compares them).
   */
  size(n: number, width: number): void {
    if (!Number.isSafeInteger(n) || n < 1000 || n >= 1e12) {
      this.#padded(formatBytes(n), width);
      return;
    }
    let unit = 1;
    let divisor = 1000;
    while (n >= divisor * 1000) {
      divisor *= 1000;
      unit++;
    }
    const rest = n % divisor;
    let whole = (n - rest) / divisor;
    const tenths = rest * 10;
    const under = tenths % divisor;
    let digit = (tenths - under) / divisor;
    if (under * 2 === divisor) {
      this.#padded(formatBytes(n), width);
      return;
    }
    if (under * 2 > divisor && ++digit === 10) {
      digit = 0;
      whole++;
    }
    const name = UNITS[unit]!;
    const length = (whole >= 1000 ? 4 : whole >= 100 ? 3 : whole >= 10 ? 2 : 1) + 2 + name.length;
    this.repeat(SPACE, width - length);
    this.number(whole);
    this.#room(2);
    this.#buffer[this.#used++] = DOT;
    this.#buffer[this.#used++] = ZERO + digit;
    this.ascii(name);
  }

  /** `text` (ASCII) right-aligned in `width` characters. */
  #padded(text: string, width: number): void {
    this.repeat(SPACE, width - text.length);
    this.ascii(text);
  }

  /** A number as String writes it; whole ones below 2^53 digit by digit, with no string. */
  number(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      this.ascii(String(value));
      return;
    }
    let digits = 1;
    for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
    this.#room(digits);
    const b = this.#buffer;
    let v = value;
    for (let i = this.#used + digits - 1; i >= this.#used; i--) {
      b[i] = ZERO + (v % 10);
      v = Math.floor(v / 10);
    }
    this.#used += digits;
  }

  /** `count` times the byte `byte` (padding). */
  repeat(byte: number, count: number): void {
    if (count <= 0) return;
    this.#room(count);
    // A loop: `fill` is a call into C++ for the few bytes of a padding.
    const b = this.#buffer;
    for (let i = 0; i < count; i++) b[this.#used++] = byte;
  }

  /** Any text, as UTF-8 as a stream writes it (a lone surrogate as U+FFFD). */
  utf8(text: string): void {
    this.#room(text.length * 3);
    this.#used += this.#buffer.write(text, this.#used, 'utf8');
  }

  /**
   * `text` as UTF-8 when none of its bytes is one `escapes` flags (a scan of the bytes
   * written costs less than a regular expression run on every path); otherwise nothing is
   * written and false returned, for the caller to write it escaped.
   */
  utf8Unless(text: string, escapes: Uint8Array): boolean {
    this.#room(text.length * 3);
    const start = this.#used;
    const end = start + this.#buffer.write(text, start, 'utf8');
    const b = this.#buffer;
    for (let i = start; i < end; i++) {
      if (escapes[b[i]!] === 1) return false;
    }
    this.#used = end;
    return true;
  }

  /** Bytes `source[start, end)` as they are. */
  bytes(source: Buffer, start: number, end: number): void {
    this.#room(end - start);
    this.#used += source.copy(this.#buffer, this.#used, start, end);
  }

  /** The end of a line: written out when enough has gathered, or it has waited long enough. */
  endLine(): void {
    if (this.#used === 0) return;
    if (this.#since === 0) this.#since = Date.now();
    if (this.#used >= WRITE_BYTES || Date.now() - this.#since >= WRITE_MS) this.flush();
  }

  /** Writes out what is gathered. */
  flush(): void {
    if (this.#used === 0) return;
    // The stream may keep the buffer until it is written: a new one is begun, never reused.
    const full = this.#buffer.subarray(0, this.#used);
    this.#buffer = Buffer.allocUnsafe(CAPACITY);
    this.#used = 0;
    this.#since = 0;
    this.#out.write(full);
  }

  /** Room for `bytes` more: what is gathered goes out first when they would not fit. */
  #room(bytes: number): void {
    if (this.#used + bytes <= this.#buffer.length) return;
    this.flush();
    if (bytes > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(bytes);
  }
}

/** Two digits of `value` (below 100) at `at`; the index after them. */
function two(b: Buffer, at: number, value: number): number {
  b[at] = ZERO + Math.floor(value / 10);
  b[at + 1] = ZERO + (value % 10);
  return at + 2;
}

/** formatBytes's units after the space, by the power of 1,000. */
const UNITS = [' B', ' kB', ' MB', ' GB'];
const SPACE = 0x20;
const ZERO = 0x30;
const COLON = 0x3a;
const DOT = 0x2e;
const Z = 0x5a;
const WRITE_BYTES = 64 * 1024;
const WRITE_MS = 100;
/** Room for a write's worth and one more line of usual length past it. */
const CAPACITY = WRITE_BYTES + 16 * 1024;
