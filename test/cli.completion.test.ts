/**
 * `trawl completion bash|zsh|fish`: each script parses in its shell, and completes what the
 * program has — commands, subcommands, a command's own flags, fixed values — run by the real
 * shell. What is expected comes from the program itself, so a command added anywhere is
 * expected (and completed) without a word here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/context.js';
import { subcommandsOf } from '../src/cli/help/commands.js';
import { createProgram } from '../src/cli/program.js';
import { requireServices } from './servers/util.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';

const quiet: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };
const program = await createProgram(quiet, () => {});

function commandAt(...path: string[]): Command {
  let c = program;
  for (const name of path) c = subcommandsOf(c).find((s) => s.name() === name)!;
  return c;
}
const names = (c: Command) => [...subcommandsOf(c).map((s) => s.name()), 'help'].sort();
const longFlags = (c: Command) =>
  c
    .createHelp()
    .visibleOptions(c)
    .map((o) => o.long)
    .filter((l): l is string => l !== undefined)
    .sort();

/**
 * What each shell must offer after the words typed so far (the last one is being typed).
 * `files` marks a place where file names are offered.
 */
const CASES: Array<[string, string[] | 'files']> = [
  ['trawl ', names(program)],
  ['trawl sc', ['scan', 'scans']],
  ['trawl storages ', names(commandAt('storages'))],
  ['trawl storages add --', longFlags(commandAt('storages', 'add'))],
  // `ls` under `storages` has its own flags, not the top-level ls's --recursive.
  ['trawl storages ls --', longFlags(commandAt('storages', 'ls'))],
  ['trawl scan --db x.db --w', ['--wait', '--workers']],
  ['trawl completion ', ['bash', 'fish', 'zsh']],
  ['trawl help st', ['storages']],
  ['trawl scan --db ', 'files'],
];

let dir: ReturnType<typeof tempDir>;
const scripts: Record<string, string> = {};
beforeAll(async () => {
  dir = tempDir('trawl-completion-');
  // File names to complete: one folder, one file.
  mkdirSync(join(dir.path, 'work', 'music-folder'), { recursive: true });
  writeFileSync(join(dir.path, 'work', 'index-file.db'), '');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    scripts[shell] = join(dir.path, `trawl.${shell}`);
    writeFileSync(scripts[shell]!, r.stdout);
  }
});
afterAll(() => dir?.cleanup());

function run(shell: string, args: string[], input?: string) {
  const r = spawnSync(shell, args, {
    encoding: 'utf8',
    cwd: join(dir.path, 'work'),
    env: { PATH: process.env.PATH, HOME: dir.path, TERM: 'dumb' },
    ...(input === undefined ? {} : { input }),
    timeout: 30_000,
  });
  expect(r.stderr, r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** Splits what is typed into words, the word being typed last (maybe empty). */
const wordsOf = (typed: string) => typed.split(' ');

describe('bash', () => {
  it('parses and registers itself for trawl', () => {
    run('bash', ['-n', scripts.bash!]);
    expect(run('bash', ['-c', `source ${scripts.bash}; complete -p trawl`]).trim()).toBe(
      'complete -o default -F _trawl trawl',
    );
  });

  it.each(CASES)('%j', (typed, expected) => {
    const words = wordsOf(typed);
    const out = run('bash', [
      '-c',
      `source ${scripts.bash}
         COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
         _trawl; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
    const offered = out
      .split('\n')
      .filter((l) => l !== '')
      .sort();
    // Nothing from the script: bash then offers file names (complete -o default).
    expect(offered).toEqual(expected === 'files' ? [] : expected);
  });
});

describe.skipIf(!requireServices('zsh'))('zsh', () => {
  it('parses', () => {
    run('zsh', ['-n', scripts.zsh!]);
  });

  // The completion system's builtins, as stubs that print what they were handed: the
  // script's own logic runs in a real zsh; what zsh then draws is zsh's.
  const STUBS = `
    compdef() { :; }
    _describe() { local -a list; list=("\${(@P)4}"); print -l -- "\${(@)list%%:*}"; }
    compadd() { print -l -- "\${(@P)2}"; }
    _files() { print -- '<files>'; }`;

  it.each(CASES)('%j', (typed, expected) => {
    const words = wordsOf(typed);
    const out = run('zsh', [
      '-c',
      `${STUBS}
       source ${scripts.zsh}
       words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}
       _trawl`,
    ]);
    const current = words.at(-1)!;
    const offered = out
      .split('\n')
      .filter((l) => l !== '')
      .filter((l) => l === '<files>' || l.startsWith(current))
      .sort();
    expect(offered).toEqual(expected === 'files' ? ['<files>'] : expected);
  });
});

describe.skipIf(!requireServices('fish'))('fish', () => {
  it('parses', () => {
    run('fish', ['-n', scripts.fish!]);
  });

  it.each(CASES)('%j', (typed, expected) => {
    const out = run('fish', ['-c', `source ${scripts.fish}; complete -C'${typed}'`]);
    const offered = out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t')[0]!)
      .sort();
    expect(offered).toEqual(expected === 'files' ? ['index-file.db', 'music-folder/'] : expected);
  });
});

describe('the scripts follow the program', () => {
  it('name every command and subcommand, and offer no flag a command does not have', () => {
    const bash = readFileSync(scripts.bash!, 'utf8');
    for (const c of subcommandsOf(program)) expect(bash).toContain(` ${c.name()}`);
    for (const [path, cmd] of [
      ['trawl scan', commandAt('scan')],
      ['trawl storages edit', commandAt('storages', 'edit')],
    ] as const) {
      const line = bash.split('\n').find((l) => l.includes(`'${path}') echo`))!;
      expect(line, path).toBeDefined();
      expect(line.match(/--[a-z-]+/g)!.sort()).toEqual(longFlags(cmd));
    }
  });
});
