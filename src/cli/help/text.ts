/** Help text is wrapped to this many columns: a terminal of 100 shows it without a break. */
export const HELP_WIDTH = 100;

/**
 * `text` in lines of at most `width` characters: the first starts with `first`, the rest
 * are indented to its length (a hanging indent, for a name and its meaning).
 */
export function hanging(first: string, text: string, width = HELP_WIDTH): string {
  const indent = ' '.repeat(first.length);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = empty ? line + word : `${line} ${word}`;
    }
    empty = false;
  }
  lines.push(line);
  return lines.join('\n');
}
