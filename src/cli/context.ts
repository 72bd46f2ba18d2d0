import { statSync } from 'node:fs';
import { App, type AppOptions } from '../app.js';
import { loadConfig } from '../config/env.js';
import { parseStorageSpec, type StorageSpec } from '../storage/url.js';
import { UsageError } from './errors.js';

/** The part of a stream the CLI writes to; a test hands in a collector. */
export interface OutStream {
  write(chunk: string): unknown;
  /** A progress line is drawn only on a terminal. */
  isTTY?: boolean;
  columns?: number;
}

/** What every command shares: where output goes and how to open the app. */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env: NodeJS.ProcessEnv;
  /** Where `--password-stdin` reads from. @default process.stdin */
  stdin?: AsyncIterable<Buffer | string>;
  /** Cancels a running scan as Ctrl-C does (SIGINT and SIGTERM are always heard too). */
  signal?: AbortSignal;
}

/**
 * Opens the app on the index the user named. While the index makes it wait (a lock another
 * process holds, a server that does not answer), one line on stderr says what for; `signal`
 * ends the wait (the open rejects with an IndexError `CANCELLED`).
 */
export async function openApp(
  io: CliIo,
  db: string | undefined,
  signal?: AbortSignal,
  extra: Pick<AppOptions, 'addressPolicy' | 'logger' | 'storageEnv'> = {},
): Promise<App> {
  const config = loadConfig(io.env);
  return App.open({
    ...extra,
    database: db ?? config.database,
    tenant: config.tenant,
    env: io.env,
    ...(signal ? { signal } : {}),
    // A fleet's processes never migrate on their own: `trawl migrate` does, once per deploy.
    migrate: config.redisUrl === undefined,
    onNotice: (line) => writeLine(io.stderr, `trawl: ${line}`),
    onIndexWait: (wait) =>
      writeLine(
        io.stderr,
        `trawl: waiting for the index ${wait.target} (${
          wait.reason === 'locked' ? 'locked by another process' : 'no answer yet'
        })…`,
      ),
  });
}

/** A path or URL as typed, checked so that a typo gets a clear line instead of a failed scan. */
export function storageSpecFrom(input: string, extra: Record<string, unknown> = {}): StorageSpec {
  const spec = parseStorageSpec(input, extra);
  if (spec.kind === 'local') {
    const st = statSync(spec.location, { throwIfNoEntry: false });
    if (!st) throw new UsageError(`no such folder: ${input}`);
    if (!st.isDirectory()) throw new UsageError(`not a folder: ${input}`);
  }
  return spec;
}

export function writeLine(stream: OutStream, line: string): void {
  stream.write(line + '\n');
}
