import { execFile } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { ChildReport, ChildTask } from './db-child.js';
import { tempDir } from './harness.js';

const run = promisify(execFile);
/** The repository: the first folder above this file with a package.json (a bench compiles this file elsewhere). */
const REPO = (() => {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(import.meta.dirname, '../..');
  }
})();

/**
 * Compiles the child script and the sources it imports into a fresh folder (type checks
 * are the job of `tsc --noEmit`), so a child always runs the code under test, never a
 * stale `dist/`. Returns the script's path and a cleanup.
 */
export async function buildChild(
  entry = 'test/support/db-child.ts',
): Promise<{ script: string; cleanup: () => void }> {
  const out = tempDir('trawl-child-');
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  // prettier-ignore
  const args = [tsc, '--noCheck', '--outDir', out.path, '--rootDir', REPO, '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck',
    '--esModuleInterop', join(REPO, entry)];
  await run(process.execPath, args, { cwd: REPO }).catch(() => undefined);
  // The compiled files import packages by name: let them find the repository's.
  symlinkSync(join(REPO, 'node_modules'), join(out.path, 'node_modules'));
  const script = join(out.path, entry.replace(/\.ts$/, '.js'));
  if (!existsSync(script)) throw new Error(`could not compile ${script} with ${args.join(' ')}`);
  return { script, cleanup: out.cleanup };
}

/** Runs one ChildTask; resolves with its report, or undefined when it exited early. */
export async function runChild(
  script: string,
  task: ChildTask,
  nodeArgs: string[] = [],
): Promise<ChildReport | undefined> {
  const { stdout } = await run(process.execPath, [...nodeArgs, script, JSON.stringify(task)], {
    cwd: REPO,
    maxBuffer: 1 << 20,
  });
  const line = stdout.trim();
  return line === '' ? undefined : (JSON.parse(line) as ChildReport);
}
