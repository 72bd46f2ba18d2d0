/**
 * When a storage is scanned by itself: every N (`--every 6h`) or at cron times
 * (`--cron "0 3 * * *"`, 5 fields, UTC). Stored, validated and shown here; the job layer
 * fires them.
 */
import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';
import { CatalogError } from './errors.js';

let parser: typeof Parser | undefined;

/**
 * cron-parser (with luxon, ~360 kB of code), loaded when a cron expression is first read:
 * every command names this module, few ever meet a cron schedule (bench:startup).
 */
function cronParser(): typeof Parser {
  const load = createRequire(import.meta.url);
  parser ??= (load('cron-parser') as { CronExpressionParser: typeof Parser }).CronExpressionParser;
  return parser;
}

export type Schedule =
  { everyMs: number; cron?: undefined } | { cron: string; everyMs?: undefined };

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const EVERY = /^(?:\d+[mhd])+$/;
const MIN_EVERY_MS = 60_000;
const MAX_EVERY_MS = 366 * 86_400_000;

/** `30m`, `6h`, `1d`, `1h30m` as milliseconds; from 1 minute to 366 days. */
export function parseEvery(text: string): number {
  const t = text.trim();
  let ms = 0;
  if (EVERY.test(t)) {
    for (const [, n, unit] of t.matchAll(/(\d+)([mhd])/g)) {
      ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
    }
  }
  if (!EVERY.test(t) || !Number.isSafeInteger(ms) || ms < MIN_EVERY_MS || ms > MAX_EVERY_MS) {
    throw new CatalogError(
      'INVALID',
      `Expected \`--every\` to be a duration like 30m, 6h, 1d or 1h30m (1 minute to 366 days), got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

/** A cron expression of 5 fields (minute hour day-of-month month day-of-week), checked. */
export function checkCron(expression: string): string {
  const expr = expression.trim().replace(/\s+/g, ' ');
  const problem = (why: string) =>
    new CatalogError(
      'INVALID',
      `Expected \`--cron\` to be 5 fields (minute hour day-of-month month day-of-week) like "0 3 * * *", got ${JSON.stringify(expression)}: ${why}`,
    );
  if (expr.split(' ').length !== 5) throw problem(`${expr.split(' ').length} fields`);
  try {
    cronParser().parse(expr, { tz: 'UTC', strict: false });
  } catch (error) {
    throw problem((error as Error).message);
  }
  return expr;
}

/** `6h`, `1h30m`, `2d`: the shortest spelling {@link parseEvery} reads back. */
export function formatEvery(ms: number): string {
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out || '0m';
}

/**
 * The next time the schedule is due after `now`: for an interval, the last scan's start plus
 * the interval (now when it never ran, or when that time has passed); for cron, its next time.
 */
export function nextRun(schedule: Schedule, now: Date, lastStart?: number): Date {
  if (schedule.everyMs !== undefined) {
    const due = lastStart === undefined ? now.getTime() : lastStart + schedule.everyMs;
    return new Date(Math.max(due, now.getTime()));
  }
  return cronParser().parse(schedule.cron, { tz: 'UTC', currentDate: now }).next().toDate();
}

/** A schedule as one line: `every 6h`, `cron 0 3 * * * (UTC)`. */
export function describeSchedule(schedule: Schedule): string {
  return schedule.everyMs !== undefined
    ? `every ${formatEvery(schedule.everyMs)}`
    : `cron ${schedule.cron} (UTC)`;
}
