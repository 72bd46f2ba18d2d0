import type { Command } from 'commander';
import { subcommandsOf } from '../help/commands.js';

/** One option of a command as a shell completes it. */
export interface OptionNode {
  /** `-r`, `--recursive`. */
  names: string[];
  /** Takes a value (`--db <file|url>`): the next word is that value, not a command. */
  takesValue: boolean;
  /** Fixed values, when it has them. */
  choices: string[];
  description: string;
}

/** A command as a shell completes it: what may follow its name. */
export interface CommandNode {
  /** `['trawl', 'storages', 'add']`. */
  path: string[];
  description: string;
  options: OptionNode[];
  /** Subcommands; a group also has `help`, which completes its siblings' names. */
  commands: CommandNode[];
  /** Fixed values of its first argument (`completion bash|zsh|fish`), else empty. */
  argChoices: string[];
  /** It takes arguments (paths, URLs, names): a shell may offer file names there. */
  takesArgs: boolean;
}

/**
 * The program as a tree for completion scripts, from what commander knows: every
 * command registered, with the options its help shows. Nothing is listed by hand.
 */
export function commandTree(program: Command): CommandNode {
  return nodeOf(program, [program.name()]);
}

function nodeOf(command: Command, path: string[]): CommandNode {
  const subs = subcommandsOf(command);
  const commands = subs.map((c) => nodeOf(c, [...path, c.name()]));
  if (commands.length > 0) {
    commands.push({
      path: [...path, 'help'],
      description: 'display help for command',
      options: [],
      commands: [],
      argChoices: subs.map((c) => c.name()),
      takesArgs: true,
    });
  }
  const args = command.registeredArguments;
  return {
    path,
    description: oneLine(command.description()),
    options: command
      .createHelp()
      .visibleOptions(command)
      .map((o) => ({
        names: [o.short, o.long].filter((n): n is string => typeof n === 'string'),
        takesValue: o.required || o.optional,
        choices: [...(o.argChoices ?? [])],
        description: oneLine(o.description),
      })),
    commands,
    argChoices: [...(args[0]?.argChoices ?? [])],
    takesArgs: args.length > 0,
  };
}

/** A description on one line, short enough for a completion menu. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

/** Every node of the tree, the root first. */
export function nodesOf(root: CommandNode): CommandNode[] {
  return [root, ...root.commands.flatMap(nodesOf)];
}
