import { statSync } from 'node:fs';
import type { App, AppOptions } from '../app.js';
import { loadConfig } from '../config/env.js';
import { parseStorageSpec, type StorageSpec } from '../storage/url.js';
import { UsageError } from './errors.js';
import { expandHome } from './home.js';

/** The part of a stream the CLI writes to; a test hands in a collector. */
export interface OutStream {
  /** Bytes only where they are whole UTF-8 (`find -0` writes chunks of whole paths). */
  write(chunk: string | Uint8Array): unknown;
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
 *
 * An index this user cannot write (a read-only file, folder or mount) is opened read-only
 * unless `extra.readOnly` is false: every command that only reads (`ls`, `scans`, `find`,
 * `du`, `storages ls`…) then works on it, and one that writes fails at its first write with
 * INDEX_READ_ONLY. Commands that must write from the start (`scan`, `serve`, `worker`) pass
 * false and are refused at once.
 *
 * The storage layer's metrics go nowhere unless `extra.metrics` is a registry.
 */
export async function openApp(
  io: CliIo,
  db: string | undefined,
  signal?: AbortSignal,
  extra: Pick<
    AppOptions,
    'addressPolicy' | 'logger' | 'storageEnv' | 'readOnly' | 'queryBuilder' | 'metrics'
  > = {},
): Promise<App> {
  const config = loadConfig(io.env);
  // Loaded here, not at the top: `trawl --version`, `--help` and a mistyped flag never need
  // the index, the storages or the fleet behind the app (bench:startup).
  const { App } = await import('../app.js');
  return App.open({
    readOnly: true,
    // Only `trawl serve` serves metrics (`/metrics`) and passes a registry; every other
    // command counts into no-ops and loads no prom-client.
    metrics: false,
    ...extra,
    database: indexTarget(io.env, db),
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

/**
 * The index the user named (`--db`, else `TRAWL_DATABASE_URL`, else the default file), with
 * `~` expanded as the shell would have.
 */
export function indexTarget(env: NodeJS.ProcessEnv, db: string | undefined): string {
  return expandHome(db ?? loadConfig(env).database, env);
}

/**
 * A path or URL as typed, checked so that a typo gets a clear line instead of a failed scan;
 * a quoted `~/Music` is expanded as the shell would have.
 */
export function storageSpecFrom(
  input: string,
  extra: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): StorageSpec {
  const spec = parseStorageSpec(expandHome(input, env), extra);
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
