import { EXIT_BY_STATUS, EXIT_HELD } from '../commands/scan.js';
import { hanging } from './text.js';

/** What each exit status of trawl means, for `--help` and docs/cli.md. */
export const EXIT_STATUSES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT_BY_STATUS.succeeded, meaning: 'done; a scan succeeded' },
  {
    code: EXIT_BY_STATUS.failed,
    meaning:
      'failed, with one line on stderr saying why: bad input (a flag, a URL, an option), an index that cannot be used, a scan whose storage failed it',
  },
  {
    code: EXIT_BY_STATUS.partial,
    meaning:
      'a scan ended partial: some directories could not be listed (nothing in them was deleted)',
  },
  {
    code: EXIT_HELD,
    meaning: 'a scan found its storage being scanned by another process (--wait waits instead)',
  },
  { code: EXIT_BY_STATUS.cancelled, meaning: 'cancelled (Ctrl-C, SIGTERM)' },
];

export function exitStatusText(): string {
  return EXIT_STATUSES.map((s) => hanging(`  ${String(s.code).padStart(3)}  `, s.meaning)).join(
    '\n',
  );
}

export function exitStatusTable(): string {
  const rows = EXIT_STATUSES.map((s) => `| \`${s.code}\` | ${s.meaning} |`);
  return ['| status | meaning |', '| --- | --- |', ...rows].join('\n');
}
