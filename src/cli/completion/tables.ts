import { nodesOf, type CommandNode } from './tree.js';

/**
 * The tree as the lookups every completion script makes, keyed by a command's path as one
 * string (`trawl storages`): its subcommands, options, options that take a value, and fixed
 * values. Each shell's script is these tables in its own syntax plus one walk over the words
 * typed so far; the three walks are the same.
 */
export interface Tables {
  /** Paths in tree order. */
  paths: string[];
  subcommands: Map<string, Array<{ name: string; description: string }>>;
  options: Map<string, Array<{ name: string; description: string }>>;
  valued: Map<string, string[]>;
  /** `path|option` (or `path|` for the first argument) to its fixed values. */
  choices: Map<string, string[]>;
  /** Paths whose arguments may be file names (paths, URLs, storage names). */
  files: Set<string>;
}

/** A word a completion script may hold unquoted: command and option names, fixed values. */
const WORD = /^[A-Za-z0-9][A-Za-z0-9._+-]*$|^--?[A-Za-z0-9][A-Za-z0-9-]*$/;

export function tablesOf(root: CommandNode): Tables {
  const t: Tables = {
    paths: [],
    subcommands: new Map(),
    options: new Map(),
    valued: new Map(),
    choices: new Map(),
    files: new Set(),
  };
  for (const node of nodesOf(root)) {
    const path = node.path.join(' ');
    t.paths.push(path);
    t.subcommands.set(
      path,
      node.commands
        .map((c) => ({ name: c.path[c.path.length - 1]!, description: c.description }))
        .filter((c) => word(c.name)),
    );
    t.options.set(
      path,
      node.options.flatMap((o) =>
        o.names.filter(word).map((name) => ({ name, description: o.description })),
      ),
    );
    t.valued.set(
      path,
      node.options.filter((o) => o.takesValue).flatMap((o) => o.names.filter(word)),
    );
    for (const o of node.options) {
      if (o.choices.length === 0) continue;
      for (const name of o.names) t.choices.set(`${path}|${name}`, o.choices.filter(word));
    }
    if (node.argChoices.length > 0) t.choices.set(`${path}|`, node.argChoices.filter(word));
    else if (node.takesArgs && node.commands.length === 0) t.files.add(path);
  }
  return t;
}

/** Whether `text` can stand in a script unquoted and unescaped. */
function word(text: string): boolean {
  return WORD.test(text);
}

/** `text` in POSIX single quotes (bash, zsh): `it's` as `'it'\''s'`. */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
