import { ROOT } from '../../storage/paths.js';
import { compilePattern, matches, type Pattern } from './pattern.js';

/** What a set of rules says of one entry: the last pattern that matches decides. */
export type Verdict = 'excluded' | 'included' | undefined;

/** The fields of an entry that rules look at. */
export interface Candidate {
  path: string;
  name: string;
  isDir: boolean;
}

/**
 * The patterns of one source (the scan's `--exclude`, the storage's `exclude` list, one
 * `.trawlignore`), anchored at the directory `base`: as in git, the last matching pattern
 * decides, and a set that no pattern of matches has no say.
 */
export class RuleSet {
  readonly base: string;
  /** Where the patterns come from, for messages: `--exclude`, `/photos/.trawlignore`. */
  readonly origin: string;
  readonly #patterns: readonly Pattern[];
  /** Some pattern looks at the path below `base`, not only at the name. */
  readonly #anchored: boolean;

  constructor(base: string, origin: string, patterns: readonly Pattern[]) {
    this.base = base;
    this.origin = origin;
    this.#patterns = patterns;
    this.#anchored = patterns.some((p) => !p.basename);
  }

  /**
   * Pattern lines anchored at `base`: a file's (blank lines and `#` comments allowed), or
   * patterns given one by one (`fileLines` false: a leading `#` is part of the name).
   */
  static parse(base: string, origin: string, lines: readonly string[], fileLines = true): RuleSet {
    const patterns: Pattern[] = [];
    for (const line of lines) {
      const p = compilePattern(line, fileLines);
      if (p) patterns.push(p);
    }
    return new RuleSet(base, origin, patterns);
  }

  get size(): number {
    return this.#patterns.length;
  }

  verdict(e: Candidate): Verdict {
    const patterns = this.#patterns;
    const rel = this.#anchored ? relativeTo(this.base, e.path) : '';
    for (let i = patterns.length - 1; i >= 0; i--) {
      const p = patterns[i]!;
      if (matches(p, rel, e.name, e.isDir)) return p.negated ? 'included' : 'excluded';
    }
    return undefined;
  }
}

/** `path` below `base` without a leading slash (`/a/b/c` below `/a` is `b/c`). */
function relativeTo(base: string, path: string): string {
  return base === ROOT ? path.slice(1) : path.slice(base.length + 1);
}

/** A file's text as pattern lines: UTF-8, a byte-order mark dropped, `\n` or `\r\n` ends. */
export function linesOf(bytes: Uint8Array): string[] {
  let text = new TextDecoder('utf-8').decode(bytes);
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  return text.split('\n');
}
