/**
 * Help that teaches, and stays true: every command's help has examples, and every example
 * parses as that command's arguments and flags; `trawl --help` shows the URL of every kind
 * of storage, every environment variable trawl reads and every exit status — each from the
 * code that defines it, and held equal to docs/cli.md and docs/storages.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../src/cli/program.js';
import type { CliIo } from '../src/cli/context.js';
import { allCommands } from '../src/cli/help/commands.js';
import { ENVIRONMENT, environmentTable, storageEnvironment } from '../src/cli/help/environment.js';
import { EXAMPLES } from '../src/cli/help/examples.js';
import { EXIT_STATUSES, exitStatusTable } from '../src/cli/help/exit-status.js';
import { BACKENDS } from '../src/storage/registry.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { runCli } from './support/cli-capture.js';

const REPO = resolve(import.meta.dirname, '..');
const quiet: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };

/** The program with every action replaced by nothing: parsing only. */
async function parsingProgram(): Promise<Command> {
  const program = await createProgram(quiet, () => {});
  for (const { command } of allCommands(program)) command.action(() => {});
  return program;
}

/** A command line as the shell splits it: quotes, no expansion, up to a redirection. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    const word = m[1] ?? m[2] ?? m[3]!;
    if (m[3] !== undefined && /^[<>|]/.test(word)) break;
    words.push(word);
  }
  // `NAME=value trawl …`: the environment before the command.
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) words.shift();
  return words;
}

/** Markdown table rows as trimmed cells (alignment does not matter). */
function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s|:-]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

function section(doc: string, name: string): string {
  const found = new RegExp(`<!-- ${name} -->\\n([\\s\\S]*?)<!-- /${name} -->`).exec(doc);
  expect(found, `no <!-- ${name} --> section`).not.toBeNull();
  return found![1]!;
}

const paths = allCommands(await parsingProgram()).map((c) => c.path.join(' '));

describe('examples', () => {
  it('every command has some, and none is kept for a command that is gone', () => {
    expect(paths.length).toBeGreaterThan(10);
    for (const path of paths)
      expect(EXAMPLES[path]?.length, `examples of ${path}`).toBeGreaterThan(0);
    expect(Object.keys(EXAMPLES).filter((k) => k !== '' && !paths.includes(k))).toEqual([]);
    expect(EXAMPLES['']!.length).toBeGreaterThan(0);
  });

  it.each(Object.entries(EXAMPLES).flatMap(([path, list]) => list.map(([line]) => [path, line])))(
    '%s: `%s` parses',
    async (path, line) => {
      const words = shellWords(line);
      expect(words[0]).toBe('trawl');
      // It is an example of this command: the command's names lead the line.
      if (path !== '') expect(words.slice(1, 1 + path.split(' ').length).join(' ')).toBe(path);
      const program = await parsingProgram();
      const error = await program.parseAsync(['node', ...words]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, (error as Error | undefined)?.message).toBeUndefined();
    },
  );

  it.each(Object.keys(EXAMPLES).filter((k) => k !== ''))(
    'trawl %s --help shows them',
    async (path) => {
      const r = await runCli([...path.split(' '), '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('\nExamples:\n');
      for (const [line] of EXAMPLES[path]!) expect(r.stdout).toContain(line);
    },
  );

  it('the URL of every example storage parses', () => {
    for (const backend of Object.values(BACKENDS)) {
      expect(() => parseStorageSpec(backend.url.example.replace(/^~/, '/tmp'))).not.toThrow();
    }
  });
});

describe('trawl --help', () => {
  it('shows examples, every storage URL, the environment and the exit statuses', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const help = r.stdout;
    for (const [line] of EXAMPLES['']!) expect(help).toContain(line);
    for (const [kind, b] of Object.entries(BACKENDS)) {
      if (b.url.hidden) expect(help, kind).not.toContain(b.url.pattern);
      else expect(help, kind).toContain(`  ${b.url.pattern}\n`);
    }
    for (const v of [...ENVIRONMENT, ...storageEnvironment()]) {
      expect(help).toMatch(new RegExp(`\\n  ${v.name} +\\S`));
    }
    for (const s of EXIT_STATUSES) expect(help).toMatch(new RegExp(`\\n +${s.code}  \\S`));
    expect(help).toContain('trawl completion bash|zsh|fish');
    // A terminal of 100 columns shows it without a break.
    for (const l of help.split('\n')) expect(l.length, l).toBeLessThanOrEqual(100);
  });

  it('scan --help lists each kind of storage with its options', async () => {
    const r = await runCli(['scan', '--help']);
    for (const b of Object.values(BACKENDS)) {
      if (b.url.hidden) continue;
      for (const option of Object.keys(b.options)) expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toContain('\nExit status:\n');
  });
});

describe('the lists help shows are complete', () => {
  it('every TRAWL_ variable the code reads is in the environment list', () => {
    const named = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path);
        else if (e.name.endsWith('.ts')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/\bTRAWL_[A-Z0-9_]+\b/g))
            named.add(m[0]);
        }
      }
    };
    walk(join(REPO, 'src'));
    const listed = new Set([...ENVIRONMENT, ...storageEnvironment()].map((v) => v.name));
    // Not settings: an error code, a knob for tests.
    const internal = new Set(['TRAWL_STREAM', 'TRAWL_LOCAL_STREAM_DIR_BYTES']);
    expect([...named].filter((n) => !listed.has(n) && !internal.has(n)).sort()).toEqual([]);
  });

  it('every exit status the code sets is listed', () => {
    const codes = new Set<number>([0]);
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path);
        else if (e.name.endsWith('.ts')) {
          const text = readFileSync(path, 'utf8');
          for (const m of text.matchAll(/process\.exit\((\d+)\)|EXIT_HELD = (\d+)/g)) {
            codes.add(Number(m[1] ?? m[2]));
          }
          for (const m of text.matchAll(/EXIT_BY_STATUS = \{([^}]*)\}/g)) {
            for (const n of m[1]!.matchAll(/\d+/g)) codes.add(Number(n[0]));
          }
        }
      }
    };
    walk(join(REPO, 'src', 'cli'));
    expect(EXIT_STATUSES.map((s) => s.code).sort((a, b) => a - b)).toEqual(
      [...codes].sort((a, b) => a - b),
    );
  });

  it('docs/cli.md holds the environment and exit statuses as generated', () => {
    const doc = readFileSync(join(REPO, 'docs', 'cli.md'), 'utf8');
    // On a mismatch, paste environmentTable() / exitStatusTable() into the page.
    expect(cells(section(doc, 'environment'))).toEqual(cells(environmentTable()));
    expect(cells(section(doc, 'exit-status'))).toEqual(cells(exitStatusTable()));
  });

  it('docs/storages.md names each kind by the URL help shows', () => {
    const doc = readFileSync(join(REPO, 'docs', 'storages.md'), 'utf8');
    for (const [kind, b] of Object.entries(BACKENDS)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${kind}\``));
      expect(row, kind).toContain(`\`${b.url.pattern}\``);
    }
  });
});

describe('bad use of help and completion', () => {
  it('an unknown shell is one line naming the ones there are', async () => {
    const r = await runCli(['completion', 'tcsh']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^trawl: .*'tcsh'.*bash, zsh, fish/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
