/**
 * `1,234,567`. Whole numbers (every count) are grouped by hand: building an
 * Intl.NumberFormat loads ICU's locale data, 20–80 ms that every scan's summary paid
 * (bench:startup). Anything else goes through one, made on first use.
 */
export function formatCount(n: number): string {
  if (Number.isSafeInteger(n)) {
    const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+$)/g, ',');
    return n < 0 ? `-${digits}` : digits;
  }
  fractional ??= new Intl.NumberFormat('en-US');
  return fractional.format(n);
}

let fractional: Intl.NumberFormat | undefined;

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Names may hold newlines or control characters: show them escaped on a terminal. */
export function printable(text: string): string {
  return /[\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}
