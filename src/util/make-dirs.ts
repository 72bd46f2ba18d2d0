import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`: makes `dir` and any missing folder above it. Not `mkdirSync(dir, { recursive:
 * true })`: Node 20's loops forever, at full CPU and deaf to signals, where a folder's parent
 * exists but refuses a child with ENOENT (`--db /proc/x/index.db`: procfs) — measured. Here
 * each missing folder is made once, top down, and any refusal is thrown as it came.
 */
export function makeDirs(dir: string, mode?: number): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ;) {
    if (statSync(d, { throwIfNoEntry: false }) !== undefined) break;
    missing.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (error) {
      // Made meanwhile by another process: what was asked for is there.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
