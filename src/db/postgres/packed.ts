import type { IndexedEntry } from '../entries.js';

const UNESCAPES: Record<string, string> = { '\\\\': '\\', '\\t': '\t', '\\n': '\n' };

/** A text field as the CHILDREN statement escapes it (see statements.ts), or null for `\N`. */
function field(text: string, escaped: boolean): string | null {
  if (text === '\\N') return null;
  return escaped && text.includes('\\') ? text.replace(/\\[\\tn]/g, (c) => UNESCAPES[c]!) : text;
}

/**
 * One directory's children from the packed text of the CHILDREN statement: lines of
 * `id, is_dir, size, mtime, media_kind, etag, path`, tab-separated. The path is the last
 * field, so a split into seven keeps it whole; an escaped tab or newline is two characters
 * (`\t`, `\n`), so neither split can fall inside a value. When no backslash occurs in the
 * whole text (nearly always) no field needs unescaping.
 */
export function unpackChildren(text: string): IndexedEntry[] {
  const escaped = text.includes('\\');
  const out: IndexedEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    out.push({
      id: Number(f[0]),
      isDir: f[1] === '1',
      size: Number(f[2]),
      mtime: Number(f[3]),
      mediaKind: field(f[4]!, false),
      etag: field(f[5]!, escaped),
      path: field(f[6]!, escaped)!,
    });
  }
  return out;
}
