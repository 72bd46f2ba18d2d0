import { QueryError } from './errors.js';

/**
 * Shell-style globs for `find` (`--name`, `--path`), compiled once into a test plus what the
 * index can narrow the candidates by before the test runs:
 * - `*` any run of characters and `?` one character, neither crossing `/`;
 * - `**` any run including `/` (paths only); as a whole component it may also stand for
 *   none, so `/a/**` then `/b` matches `/a/b` as well as `/a/x/y/b`;
 * - `[abc]`, `[a-z]`, `[!a]` or `[^a]` one character of a class; `\x` the character x.
 * A name glob is matched against the whole name, a path glob against the whole path.
 */
export interface Glob {
  readonly pattern: string;
  test(text: string): boolean;
  /** The longest run of plain characters: every match contains it (the index's needle). */
  readonly literal: string;
  /**
   * Path globs: the directory every match is below, from the plain text before the first
   * wildcard (`/Music/20?5` → `/Music`); `/` when a wildcard comes first.
   */
  readonly dir: string;
  /**
   * A LIKE pattern (escape `\\`) every match satisfies, under SQLite's LIKE (ASCII letters
   * of either case) and PostgreSQL's ILIKE alike: a superset to narrow rows by before the
   * exact test. A name glob's is for the name (a path ends with `/` and it).
   */
  readonly like: string;
  /**
   * Name globs: a LIKE pattern (escape `\\`) that PostgreSQL matches exactly as the glob,
   * against the name `COLLATE "C"` (LIKE bytewise, or ILIKE folding ASCII letters alone);
   * undefined when none does: a class (`[a-z]`), or when letters of either case match, text
   * beyond ASCII or a `k` or `s` (the regex folds the Kelvin sign and the long s to them).
   * `*` is `%` and `?` is `_`, one character (a code point) in both.
   */
  readonly exactLike: string | undefined;
}

export interface GlobOptions {
  /** The query field, named in errors. */
  field: string;
  /** @default false: letters match either case, as `find -iname` */
  caseSensitive?: boolean;
  /** A path (may hold `/` and `**`) rather than a name. @default false */
  path?: boolean;
}

const MAX_PATTERN = 4096;
/** Characters a regex would read as syntax (`-` is plain outside a class, and may not be escaped there). */
const SPECIAL = /[.*+?^${}()|[\]\\/]/g;

/** A wildcard as a regex and as LIKE (`%` or `_`: every wildcard matches some run of characters). */
type Token =
  { kind: 'text'; text: string } | { kind: 'regex'; source: string; like: string; class?: true };

export function compileGlob(pattern: string, options: GlobOptions): Glob {
  const { field } = options;
  const bad = (message: string) => new QueryError('BAD_QUERY', field, message);
  if (typeof pattern !== 'string' || pattern === '') throw bad('expected a glob such as *.mkv');
  if (pattern.length > MAX_PATTERN) throw bad(`longer than ${MAX_PATTERN} characters`);
  if (!options.path && pattern.includes('/')) {
    throw bad(`a name has no "/": ${JSON.stringify(pattern)} (match paths with --path)`);
  }
  const tokens = tokenize(pattern, options.path === true, bad);
  let source = '';
  let literal = '';
  let run = '';
  let before = '';
  let wild = false;
  let like = '';
  let exact: string | undefined = options.path ? undefined : '';
  for (const t of tokens) {
    if (exact !== undefined) {
      if (t.kind === 'text') {
        const folds = !options.caseSensitive && /[^\x00-\x7f]|[ks]/i.test(t.text);
        exact = folds ? undefined : exact + t.text.replace(/[\\%_]/g, '\\$&');
      } else exact = t.class ? undefined : exact + t.like;
    }
    if (t.kind === 'text') {
      source += t.text.replace(SPECIAL, '\\$&');
      run += t.text;
      if (!wild) before += t.text;
      like += likeText(t.text, options.caseSensitive === true);
    } else {
      source += t.source;
      like += t.like;
      if (run.length > literal.length) literal = run;
      run = '';
      wild = true;
    }
  }
  if (run.length > literal.length) literal = run;
  const flags = options.caseSensitive ? 'u' : 'iu';
  const regex = new RegExp(`^${source}$`, flags);
  const cut = before.lastIndexOf('/');
  const dir = !options.path || cut <= 0 ? '/' : before.slice(0, cut);
  return { pattern, test: (text) => regex.test(text), literal, dir, like, exactLike: exact };
}

/**
 * Plain text as LIKE: `%`, `_` and `\` escaped, and `_` for each character LIKE may not
 * match as the regex does: any beyond ASCII (SQLite folds ASCII only), and, when either
 * case matches, `k` and `s` (Unicode folds the Kelvin sign and the long s to them).
 */
function likeText(text: string, caseSensitive: boolean): string {
  let out = '';
  for (const ch of text) {
    if (ch > '\x7f' || (!caseSensitive && /[ks]/i.test(ch))) out += '_';
    else out += /[\\%_]/.test(ch) ? `\\${ch}` : ch;
  }
  return out;
}

/** The pattern as plain text and regex pieces; a path glob is anchored at the root. */
function tokenize(pattern: string, path: boolean, bad: (m: string) => QueryError): Token[] {
  const out: Token[] = [];
  const text = (s: string) => {
    const last = out.at(-1);
    if (last?.kind === 'text') last.text += s;
    else out.push({ kind: 'text', text: s });
  };
  // Paths are rooted: `Music/*.flac` means `/Music/*.flac`; `**/x` is anywhere already.
  const p = path && !pattern.startsWith('/') && !pattern.startsWith('**') ? `/${pattern}` : pattern;
  const one = path ? '[^/]' : '[\\s\\S]';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      if (i + 1 >= p.length) throw bad('ends with a lone "\\"');
      // One whole character (a surrogate pair stays whole).
      const next = String.fromCodePoint(p.codePointAt(i + 1)!);
      text(next);
      i += next.length;
    } else if (c === '*') {
      if (path && p[i + 1] === '*') {
        // `/**/` may stand for no directory at all: `/a/**/b` matches `/a/b`.
        if (p[i - 1] === '/' && p[i + 2] === '/') {
          out.push({ kind: 'regex', source: '(?:[\\s\\S]*/)?', like: '%' });
          i += 2;
        } else {
          out.push({ kind: 'regex', source: '[\\s\\S]*', like: '%' });
          i += 1;
        }
        while (p[i + 1] === '*') i++;
      } else {
        out.push({ kind: 'regex', source: `${one}*`, like: '%' });
        while (!path && p[i + 1] === '*') i++;
      }
    } else if (c === '?') {
      out.push({ kind: 'regex', source: one, like: '_' });
    } else if (c === '[') {
      const end = classEnd(p, i);
      if (end < 0) throw bad(`"[" without its "]" in ${JSON.stringify(pattern)}`);
      const source = classSource(p.slice(i + 1, end), path);
      out.push({ kind: 'regex', source, like: '_', class: true });
      i = end;
    } else {
      const ch = String.fromCodePoint(p.codePointAt(i)!);
      text(ch);
      i += ch.length - 1;
    }
  }
  return out;
}

/** Index of the `]` closing the class opened at `start`, or -1. A leading `]` is a member. */
function classEnd(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '!' || p[i] === '^') i++;
  if (p[i] === ']') i++;
  for (; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']') return i;
  }
  return -1;
}

function classSource(body: string, path: boolean): string {
  let negate = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    negate = true;
    i = 1;
  }
  let members = '';
  for (; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && i + 1 < body.length) {
      const e = body[++i]!;
      members += /[\]\\^-]/.test(e) ? `\\${e}` : e;
    } else if (c === '-' && members !== '' && i + 1 < body.length) {
      members += '-';
    } else {
      members += /[\]\\^-]/.test(c) ? `\\${c}` : c;
    }
  }
  // A class never matches the separator of a path, negated or not.
  if (negate) return `[^${members}${path ? '/' : ''}]`;
  return path ? `(?!/)[${members}]` : `[${members}]`;
}
