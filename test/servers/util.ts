/**
 * Starting and stopping real servers on loopback for integration tests and benches:
 * free ports, readiness by TCP connect, child processes with captured logs, and the
 * "skip locally, fail in CI" rule for missing server binaries.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export const LOOPBACK = '127.0.0.1';

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

export interface WaitOptions {
  host?: string;
  /** @default 15000 */
  timeoutMs?: number;
  /** Gives up early (with its logs) when this process exits before the port opens. */
  process?: ServerProcess;
}

/** Resolves once something accepts TCP connections on the port; rejects after the timeout. */
export async function waitForPort(port: number, options: WaitOptions = {}): Promise<void> {
  const host = options.host ?? LOOPBACK;
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (await tryConnect(host, port)) return;
    const proc = options.process;
    if (proc?.exited) {
      throw new Error(
        `${proc.name} exited (${proc.exitCode}) before listening on ${host}:${port}:\n${proc.logs()}`,
      );
    }
    if (Date.now() > deadline) {
      const logs = proc ? `\n${proc.logs()}` : '';
      throw new Error(
        `nothing listens on ${host}:${port} after ${options.timeoutMs ?? 15_000} ms${logs}`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Resolves once nothing accepts connections on the port any more (a killed server is gone). */
export async function waitForPortClosed(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await tryConnect(LOOPBACK, port)) {
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} still accepts connections`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: boolean;
  readonly exitCode: number | string | null;
  /** stdout and stderr so far (the last 64 KiB), for failure messages. */
  logs(): string;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the process group at once: a server that dies, not one that shuts down. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const LOG_LIMIT = 64 * 1024;
const live = new Set<ServerProcess>();

/**
 * Starts a server as its own process group (so stop/kill reach its workers too, as with
 * Apache's children), capturing its output.
 */
export function spawnServer(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ServerProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const append = (chunk: Buffer) => {
    log += chunk.toString('utf8');
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  let exitCode: number | string | null = null;
  const exit = new Promise<void>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      exited = true;
      exitCode = code ?? signal;
      resolve();
    };
    child.once('exit', done);
    child.once('error', (error) => {
      append(Buffer.from(`spawn failed: ${error.message}\n`));
      done(null, null);
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };

  const proc: ServerProcess = {
    name,
    child,
    get exited() {
      return exited;
    },
    get exitCode() {
      return exitCode;
    },
    logs: () => log,
    async stop(graceMs = 3000) {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
      // Workers of a process group may outlive the leader by a moment.
      signalGroup('SIGKILL');
      live.delete(proc);
    },
    async kill() {
      signalGroup('SIGKILL');
      await exit;
      live.delete(proc);
    },
  };
  live.add(proc);
  return proc;
}

// A test run that dies must not leave servers behind on a shared machine.
process.once('exit', () => {
  for (const proc of live) {
    const pid = proc.child.pid;
    if (pid !== undefined && !proc.exited) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

/** The absolute path of an executable on PATH (or an absolute path that is executable). */
export function findBinary(name: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name));
  for (const candidate of [...candidates, ...['/usr/sbin', '/sbin'].map((d) => join(d, name))]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** True when `TRAWL_REQUIRE_SERVICES` asks for every service (CI): missing ones then fail. */
export function servicesRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.TRAWL_REQUIRE_SERVICES;
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/**
 * Whether the binaries a test needs are installed. Missing ones make the caller skip
 * (`describe.skipIf(!requireServices('apache2'))`) on a developer machine, but throw — a
 * failed test file, never a silent skip — when `TRAWL_REQUIRE_SERVICES` is set.
 */
export function requireServices(...binaries: string[]): boolean {
  const missing = binaries.filter((b) => !findBinary(b));
  if (missing.length === 0) return true;
  const message = `missing server binaries: ${missing.join(', ')}`;
  if (servicesRequired()) throw new Error(`${message} (TRAWL_REQUIRE_SERVICES is set)`);
  console.warn(`skipping: ${message}`);
  return false;
}

/** Runs a command to completion (setup steps such as `htpasswd`), throwing with its output. */
export function runSync(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}
