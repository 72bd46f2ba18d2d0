/*
 * ISO 8601 times of listings (`trawl ls`, `find`: src/cli/byte-lines.ts), apart from format.ts:
 * their tables (8,192 date slots, 1,060 padded numbers; ~0.2 ms and ~130 kB to build) were
 * built at the start of every command that formats a count, a scan of an empty folder among
 * them, which prints no time (bench:startup).
 */

/**
 * An entry's modification time as ISO 8601, or undefined when the storage gives none: the
 * index stores that as 0 (an S3 prefix is only a shared start of object keys, with no time
 * of its own), and 1970-01-01 would read as a real date.
 */
export function isoMtime(ms: number): string | undefined {
  if (ms === 0) return undefined;
  // Built by hand from the day's date, kept, and the time of day: `toISOString` was a third
  // of the CPU of printing a million-line find (bench/find.ts). Whole milliseconds from 1970
  // to year 9999 only; anything else (a sign, six-digit years) as Date writes it.
  if (!isoByHand(ms)) return new Date(ms).toISOString();
  const time = ms % DAY;
  const s = Math.floor(time / 1000);
  return `${isoDate(ms - time)}${TWO[Math.floor(s / 3600)]}:${TWO[Math.floor(s / 60) % 60]}:${TWO[s % 60]}.${THREE[time % 1000]}Z`;
}

/**
 * Whether {@link isoMtime} builds `ms`'s time from {@link isoDate} and the time of day
 * (whole milliseconds from 1970 to year 9999); anything else (a sign, six-digit years) is
 * written as Date writes it.
 */
export function isoByHand(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms > 0 && ms < YEAR_10000;
}

/**
 * `2024-05-01T`, the date of the day starting at `day` (ms), kept in a slot of its day's
 * number: no hashing (a Map by the day's first millisecond, a heap number, was 8 % of a
 * 276,300-line table's CPU), and a day whose slot another took is dated again.
 */
export function isoDate(day: number): string {
  const key = day / DAY;
  const slot = key & (DATE_SLOTS - 1);
  if (dayOf[slot] === key) return dates[slot]!;
  const date = new Date(day).toISOString().slice(0, 11);
  dayOf[slot] = key;
  dates[slot] = date;
  return date;
}

export const DAY = 86_400_000;
const YEAR_10000 = Date.UTC(10_000, 0, 1);
/** Dates (`2024-05-01T`) by the day's number from 1970 (below 2,932,897: year 10000). */
const DATE_SLOTS = 8192;
const dayOf = new Int32Array(DATE_SLOTS).fill(-1);
const dates: string[] = new Array<string>(DATE_SLOTS).fill('');
const TWO = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
