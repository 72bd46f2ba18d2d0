/**
 * Strict parsers for FTP directory listings. A line that does not parse fails the whole
 * listing: skipping it (as generic FTP clients do) would hand the scan a short listing,
 * and the scan would delete what it did not see.
 *
 * Lines end with CRLF on the wire; a bare LF inside a line belongs to a filename, so
 * splitting on CRLF alone keeps names with newlines whole (vsftpd sends them raw).
 */
import type { SkipReason } from '../types.js';

export interface FtpListed {
  name: string;
  isDir: boolean;
  size: number;
  /** Milliseconds since the epoch (UTC), to the precision the listing gives. */
  mtime: number;
  skip?: SkipReason;
}

export class ListingParseError extends Error {
  override name = 'ListingParseError';
}

function lines(text: string): string[] {
  const out = text.split(text.includes('\r\n') ? '\r\n' : '\n');
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// type, permissions, links, owner, group, size (or "major, minor"), month, day, time or year, name.
const UNIX_LINE =
  /^([-dlbcpsD])[-rwxsStTlL]{9}[+@.]?\s+\d+\s+\S+\s+\S+\s+(\d+|\d+,\s*\d+)\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s([\s\S]*)$/;

/**
 * `ls -l` style (LIST), read as UTC. Precision: the minute for entries of the last six
 * months (`Nov 27 01:29`), the day for older ones (`Mar 04  2020`); a recent entry's year
 * is the one that puts it in the past relative to `now`.
 */
export function parseUnixList(text: string, now: number): FtpListed[] {
  const out: FtpListed[] = [];
  for (const line of lines(text)) {
    if (line === '' || /^total \d+$/.test(line)) continue;
    const m = UNIX_LINE.exec(line);
    if (!m) throw new ListingParseError(`unparseable LIST line ${JSON.stringify(line)}`);
    const [, type, size, mon, day, timeOrYear, rawName] = m as unknown as string[];
    const month = MONTHS.indexOf(mon!.toLowerCase());
    if (month < 0)
      throw new ListingParseError(`unknown month in LIST line ${JSON.stringify(line)}`);
    let name = rawName!;
    if (type === 'l') {
      const arrow = name.indexOf(' -> ');
      if (arrow >= 0) name = name.slice(0, arrow);
    }
    if (name === '.' || name === '..') continue;
    if (name === '')
      throw new ListingParseError(`LIST line without a name ${JSON.stringify(line)}`);
    const entry: FtpListed = {
      name,
      isDir: type === 'd',
      size: type === '-' ? Number(size) : 0,
      mtime: listTime(month, Number(day), timeOrYear!, now),
    };
    if (type === 'l') entry.skip = 'symlink';
    else if (type !== '-' && type !== 'd') entry.skip = 'special';
    out.push(entry);
  }
  return out;
}

function listTime(month: number, day: number, timeOrYear: string, now: number): number {
  if (!timeOrYear.includes(':')) return Date.UTC(Number(timeOrYear), month, day);
  const [hh, mm] = timeOrYear.split(':').map(Number) as [number, number];
  const year = new Date(now).getUTCFullYear();
  const t = Date.UTC(year, month, day, hh, mm);
  // `ls` shows the time only for recent entries; one "in the future" is from last year.
  return t > now + 2 * 86_400_000 ? Date.UTC(year - 1, month, day, hh, mm) : t;
}

/** RFC 3659 MLSD: `fact=value;…; name`, times `YYYYMMDDHHMMSS[.sss]` in UTC. */
export function parseMlsd(text: string): FtpListed[] {
  const out: FtpListed[] = [];
  for (const line of lines(text)) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    if (space < 0) throw new ListingParseError(`unparseable MLSD line ${JSON.stringify(line)}`);
    const name = line.slice(space + 1);
    const facts = new Map<string, string>();
    for (const fact of line.slice(0, space).split(';')) {
      const eq = fact.indexOf('=');
      if (eq > 0) facts.set(fact.slice(0, eq).toLowerCase(), fact.slice(eq + 1));
    }
    const type = (facts.get('type') ?? '').toLowerCase();
    if (type === 'cdir' || type === 'pdir' || name === '.' || name === '..') continue;
    const modify = facts.get('modify');
    const mtime = modify === undefined ? NaN : mlsdTime(modify);
    if (!Number.isFinite(mtime)) {
      throw new ListingParseError(`MLSD line without a valid modify fact ${JSON.stringify(line)}`);
    }
    const isDir = type === 'dir';
    const entry: FtpListed = {
      name,
      isDir,
      size: type === 'file' ? Number(facts.get('size') ?? 0) : 0,
      mtime,
    };
    if (type.startsWith('os.unix=slink') || type === 'os.unix=symlink') entry.skip = 'symlink';
    else if (type !== 'file' && !isDir) entry.skip = 'special';
    if (!Number.isFinite(entry.size)) {
      throw new ListingParseError(`MLSD line with a bad size ${JSON.stringify(line)}`);
    }
    out.push(entry);
  }
  return out;
}

function mlsdTime(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(value);
  if (!m) return NaN;
  const n = m.slice(1).map((v) => Number(v ?? 0)) as number[];
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  return Date.UTC(n[0]!, n[1]! - 1, n[2]!, n[3]!, n[4]!, n[5]!, ms);
}
