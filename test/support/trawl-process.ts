/**
 * `trawl` in a process of its own (from dist/, through test/fixtures/paced-scan.mjs), for
 * what only a real process shows: how it exits when its database fails under it, what a
 * signal does, what it prints on stdout and stderr, and how long all of that takes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const PACED = join(REPO, 'test', 'fixtures', 'paced-scan.mjs');

export interface TrawlExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What trawl itself said on stderr, line by line (the fixture's own lines left out). */
  messages: string[];
  /** From the spawn to the exit. */
  ms: number;
}

export interface TrawlProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when `text` has appeared on stderr (or stdout); rejects on exit or after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
  /**
   * Resolves at exit. After `limitMs` the process is killed (SIGKILL) and the promise
   * rejects, so a hang fails the test with what was printed instead of timing it out.
   */
  exit(limitMs: number): Promise<TrawlExit>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `trawl <args>` with the paced memory volume `memory://paced` registered. */
export function startTrawl(args: string[], env: Record<string, string> = {}): TrawlProcess {
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  const started = Date.now();
  const child = spawn(process.execPath, [PACED, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  const changed = () => watchers.forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), changed()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), changed()));
  const exited = new Promise<TrawlExit>((resolve) => {
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        messages: messages(stderr),
        ms: Date.now() - started,
      }),
    );
  });
  let done = false;
  void exited.then(() => ((done = true), changed()));

  return {
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(text, ms = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no "${text}" after ${ms} ms`)), ms);
        const finish = (error?: Error) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (error) reject(new Error(`${error.message}; stdout: ${stdout}; stderr: ${stderr}`));
          else resolve();
        };
        const check = () => {
          if (stderr.includes(text) || stdout.includes(text)) finish();
          else if (done) finish(new Error(`exited before "${text}"`));
        };
        watchers.add(check);
        check();
      });
    },
    async exit(limitMs) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(
            new Error(
              `still running after ${limitMs} ms (killed); stdout: ${stdout}; stderr: ${stderr}`,
            ),
          );
        }, limitMs);
      });
      try {
        return await Promise.race([exited, limit]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill: (signal) => child.kill(signal),
  };
}

function messages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('fixture: '));
}

/** Polls `probe` until it returns true; rejects after `ms`. */
export async function until(probe: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The one JSON object a `--json` run printed, or a failure naming what it printed instead. */
export function jsonResult(out: TrawlExit): Record<string, unknown> {
  const lines = out.stdout.trimEnd().split('\n').filter(Boolean);
  if (lines.length !== 1) {
    throw new Error(`expected one JSON line; stdout: ${out.stdout}; stderr: ${out.stderr}`);
  }
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}
