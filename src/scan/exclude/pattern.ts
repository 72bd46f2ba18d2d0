/**
 * One gitignore pattern, compiled to a regular expression once. The rules are git's
 * (`gitignore(5)`, `wildmatch.c`), checked against `git check-ignore` in
 * test/exclude.git-conformance.test.ts:
 *
 * - a blank line, or one starting with `#`, is no pattern; `\#` and `\!` start literal ones
 *   (a pattern given on its own, not as a line of a file, has no comments);
 * - trailing spaces are dropped unless escaped (`\ `);
 * - `!` negates: a path it matches is included again;
 * - a trailing `/` matches directories only;
 * - a pattern with no other `/` matches a name at any depth; with a leading or inner `/` it
 *   is anchored at the directory whose rule it is (the storage's root, or the folder of the
 *   `.trawlignore` it comes from);
 * - `*` is any run of characters but `/`, `?` one character but `/`, `[a-z]`, `[!a-z]`,
 *   `[^a-z]` and `[[:alpha:]]` classes as in shell globs (never matching `/`);
 * - `**` between slashes (or at either end) spans directories: `**∕x` anywhere, `x/**`
 *   everything inside `x`, `a/**∕b` zero or more levels between; elsewhere it is a `*`;
 * - `\` makes the next character literal; a pattern ending in a lone `\`, or holding a `[`
 *   that never closes, matches nothing (git's wildmatch aborts on both).
 *
 * Matching is case-sensitive, as git's is by default.
 */

export interface Pattern {
  /** The line as given (for messages). */
  source: string;
  /** `!pattern`: a match includes the path again. */
  negated: boolean;
  /** `pattern/`: matches directories only. */
  dirOnly: boolean;
  /** No `/` but a trailing one: tried against the name alone, at any depth. */
  basename: boolean;
  /** Undefined when the pattern can match nothing (a lone trailing `\`, an unclosed `[`). */
  regex: RegExp | undefined;
  /** The whole pattern is one literal name (`.git`, `@eaDir`): compared without a regex. */
  literal: string | undefined;
}

/**
 * A pattern line, or undefined for a blank line or a comment. `fileLine` false is for a
 * pattern given on its own (`--exclude`, a storage's list), where a comment makes no sense:
 * there `#recycle` is the Synology folder, not a comment.
 */
export function compilePattern(line: string, fileLine = true): Pattern | undefined {
  let text = stripTrailingSpaces(line.endsWith('\r') ? line.slice(0, -1) : line);
  if (text === '' || (fileLine && text.startsWith('#'))) return undefined;
  const source = text;
  let negated = false;
  if (text.startsWith('!')) {
    negated = true;
    text = text.slice(1);
  }
  let dirOnly = false;
  // A trailing `\/` is an escaped slash and still a slash: git strips it the same way.
  if (text.endsWith('/')) {
    dirOnly = true;
    text = text.slice(0, -1);
  }
  if (text === '') return undefined; // `/` or `!/`: git ignores it
  const basename = !text.includes('/');
  if (!basename && text.startsWith('/')) text = text.slice(1);
  const body = translate(text);
  return {
    source,
    negated,
    dirOnly,
    basename,
    regex: body === undefined ? undefined : new RegExp(`^${body}$`, 'su'),
    literal: body !== undefined && basename && !/[*?[\\]/.test(text) ? text : undefined,
  };
}

/**
 * Whether the pattern matches an entry at `rel` (its path below the pattern's directory, no
 * leading slash) named `name`.
 */
export function matches(p: Pattern, rel: string, name: string, isDir: boolean): boolean {
  if (p.dirOnly && !isDir) return false;
  if (p.literal !== undefined) return p.literal === name;
  if (!p.regex) return false;
  return p.regex.test(p.basename ? name : rel);
}

/** git's trim_trailing_spaces: spaces at the end go, unless the last one is escaped. */
function stripTrailingSpaces(text: string): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === ' ') {
    if (end >= 2 && text[end - 2] === '\\') {
      // `\ ` keeps that space (and with it every character before it).
      let slashes = 0;
      for (let i = end - 2; i >= 0 && text[i] === '\\'; i--) slashes++;
      if (slashes % 2 === 1) break;
    }
    end--;
  }
  return text.slice(0, end);
}

const SPECIAL = /[\\^$.*+?()[\]{}|/]/;

function literalChar(c: string): string {
  return SPECIAL.test(c) ? `\\${c}` : c;
}

/** The pattern as a regex body, or undefined when it can match nothing. */
function translate(text: string): string | undefined {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '*') {
      let j = i;
      while (j < n && text[j] === '*') j++;
      const run = j - i;
      const atStart = i === 0 || text[i - 1] === '/';
      const atEnd = j === n || text[j] === '/';
      if (run >= 2 && atStart && atEnd) {
        if (j === n) {
          // `x/**` is everything inside x; a lone `**` is everything.
          out += '.*';
          i = j;
        } else {
          // `**/`: zero or more whole directories.
          out += '(?:.*/)?';
          i = j + 1;
        }
        continue;
      }
      out += '[^/]*';
      i = j;
      continue;
    }
    if (c === '?') {
      out += '[^/]';
      i++;
      continue;
    }
    if (c === '[') {
      const cls = bracket(text, i);
      if (!cls) return undefined;
      out += cls.regex;
      i = cls.end;
      continue;
    }
    if (c === '\\') {
      if (i + 1 >= n) return undefined;
      out += literalChar(text[i + 1]!);
      i += 2;
      continue;
    }
    out += literalChar(c);
    i++;
  }
  return out;
}

const POSIX: Readonly<Record<string, string>> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v',
  upper: 'A-Z',
  xdigit: '0-9a-fA-F',
};

function classChar(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}

/**
 * A bracket expression starting at `text[start] === '['`: its regex and where it ends, or
 * undefined when it never closes (or names an unknown `[:class:]`), as wildmatch aborts.
 */
function bracket(text: string, start: number): { regex: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (text[i] === '!' || text[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  let prev: string | undefined;
  for (;;) {
    if (i >= text.length) return undefined;
    let c = text[i]!;
    if (c === ']' && !first) break;
    first = false;
    if (c === '\\') {
      i++;
      if (i >= text.length) return undefined;
      c = text[i]!;
      body += classChar(c);
      prev = c;
      i++;
      continue;
    }
    if (c === '[' && text[i + 1] === ':') {
      const close = text.indexOf(':]', i + 2);
      if (close < 0) return undefined;
      const name = text.slice(i + 2, close);
      const range = POSIX[name];
      if (range === undefined) return undefined;
      body += range;
      prev = undefined;
      i = close + 2;
      continue;
    }
    if (c === '-' && prev !== undefined && i + 1 < text.length && text[i + 1] !== ']') {
      let hi = text[i + 1]!;
      let step = 2;
      if (hi === '\\') {
        if (i + 2 >= text.length) return undefined;
        hi = text[i + 2]!;
        step = 3;
      }
      // A reversed range matches nothing in wildmatch; a regex would refuse it.
      if (hi < prev) body = body.slice(0, -classChar(prev).length);
      else body += `-${classChar(hi)}`;
      prev = undefined;
      i += step;
      continue;
    }
    body += classChar(c);
    prev = c;
    i++;
  }
  const end = i + 1;
  if (body === '') return { regex: negate ? '[^/]' : '(?!)', end };
  return { regex: negate ? `[^/${body}]` : `(?![/])[${body}]`, end };
}
