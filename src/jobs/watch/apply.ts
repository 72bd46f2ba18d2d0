import type { App } from '../../app.js';
import type { EntryRepository, EntryScope } from '../../db/entries.js';
import { guard } from '../../db/guard.js';
import type { StorageRecord } from '../../db/repositories/storages.js';
import { splitServiceOptions } from '../../storage/limits/options.js';
import { scan } from '../../scan/engine.js';
import type { RecordedScanResult } from '../../scan/runner.js';
import type { Lease } from '../lease.js';
import type { DirtyPlan } from './dirty-set.js';

/** One listing of a watch's apply: a directory, alone or with its subtree. */
export interface ApplyStep {
  dir: string;
  deep: boolean;
  /**
   * The directory was not in the index when the plan was made: it is listed only if its
   * parent's listing (an earlier level) put it there. One that is still missing was gone, or
   * is excluded (a pattern, a marker file) — and an excluded directory is never listed.
   */
  unindexed?: boolean;
}

/** What applying a plan did. */
export type Applied =
  | { full: RecordedScanResult }
  | {
      steps: number;
      created: number;
      updated: number;
      deleted: number;
      /** Directories gone before they were listed (their parents' listings remove them). */
      vanished: number;
      errors: number;
      errorSample: Array<{ path: string; code: string; message: string }>;
    };

/**
 * Applies marked directories to the index under `lease`, each listed and reconciled by the
 * scan engine itself (a scan rooted there, one level or its whole subtree): so a change is
 * applied by exactly the rules of a scan, a directory that cannot be read keeps its entries,
 * and every write carries the lease's fence. A plan that marks the whole tree is a full scan,
 * recorded in the scan history like any other.
 */
export async function applyPlan(
  app: App,
  storage: StorageRecord,
  plan: DirtyPlan,
  lease: Lease,
  signal: AbortSignal,
): Promise<Applied> {
  const stop = AbortSignal.any([signal, lease.lost]);
  if (plan.deep.includes('/')) {
    const full = await app.scan(
      storage,
      { signal: stop },
      { fence: lease.fence, lost: lease.lost, workerId: lease.holder },
    );
    return { full };
  }
  const scope: EntryScope = {
    tenantId: storage.tenantId,
    storageId: storage.id,
    fence: lease.fence,
    outbox: app.changeEvents ? { scanId: null } : undefined,
  };
  const entries = guard(app.index.entries, stop);
  const steps = await stepsFor(plan, entries, scope);
  const handle = await app.storage.open(storage.id, { signal: stop });
  const done: Applied = {
    steps: steps.length,
    created: 0,
    updated: 0,
    deleted: 0,
    vanished: 0,
    errors: 0,
    errorSample: [],
  };
  // One run of the engine per level and kind: the directories of one level are never under
  // one another, so they are listed together (one transaction a batch, not a directory), and
  // a level is done before the next begins, so parents are reconciled before their children.
  const storageExclude = splitServiceOptions(storage.options).service.exclude;
  for (const group of groups(steps)) {
    const dirs = await present(group, entries, scope);
    if (dirs.length === 0) continue;
    const r = await scan({ storage: handle, entries, budget: app.budget }, scope, {
      roots: dirs,
      maxDepth: group.deep ? Infinity : 1,
      signal: stop,
      errorSampleSize: dirs.length + 20,
      ...(storageExclude ? { storageExclude } : {}),
    });
    if (r.status === 'cancelled') throw stop.reason ?? new Error('cancelled');
    done.created += r.created;
    done.updated += r.updated;
    done.deleted += r.deleted;
    const roots = new Set(dirs);
    let errors = r.errors;
    for (const e of r.errorSample) {
      // Gone since it was marked: the deletion marked its parent, whose listing removes it.
      if (roots.has(e.path) && e.code === 'NOT_FOUND') {
        done.vanished++;
        errors--;
      } else if (done.errorSample.length < 20) done.errorSample.push(e);
    }
    done.errors += errors;
    // An index failure is not the directories': stop, and the caller marks the plan again.
    const index = r.errorSample.find((e) => e.code.startsWith('INDEX') || e.code === 'CHANGE_SINK');
    if (r.status === 'failed' && index) throw new Error(index.message);
  }
  return done;
}

interface Group {
  deep: boolean;
  dirs: string[];
  /** Of `dirs`, those to list only if the index holds them by now ({@link ApplyStep.unindexed}). */
  unindexed: Set<string>;
}

/** A group's directories that may be listed now. */
async function present(
  group: Group,
  entries: EntryRepository,
  scope: EntryScope,
): Promise<string[]> {
  if (group.unindexed.size === 0) return group.dirs;
  const found = await entries.lookup(scope, [...group.unindexed]);
  return group.dirs.filter((d) => !group.unindexed.has(d) || found.get(d)?.isDir === true);
}

/** Steps by level (depth below `/`), shallow before deep within a level. */
function groups(steps: readonly ApplyStep[]): Group[] {
  const byLevel = new Map<number, { shallow: Group; deep: Group }>();
  for (const step of steps) {
    const level = step.dir === '/' ? 0 : step.dir.split('/').length - 1;
    let at = byLevel.get(level);
    if (!at) {
      at = {
        shallow: { deep: false, dirs: [], unindexed: new Set() },
        deep: { deep: true, dirs: [], unindexed: new Set() },
      };
      byLevel.set(level, at);
    }
    const group = step.deep ? at.deep : at.shallow;
    group.dirs.push(step.dir);
    if (step.unindexed) group.unindexed.add(step.dir);
  }
  const out: Group[] = [];
  for (const level of [...byLevel.keys()].sort((a, b) => a - b)) {
    const at = byLevel.get(level)!;
    if (at.shallow.dirs.length > 0) out.push(at.shallow);
    if (at.deep.dirs.length > 0) out.push(at.deep);
  }
  return out;
}

/**
 * The listings that apply `plan`, parents before children. A marked directory the index does
 * not hold yet (created, or moved in, before its parent's listing said so) is reached from its
 * nearest indexed ancestor: that ancestor is listed, and the topmost missing directory below it
 * is listed with its whole subtree — so entries are never written under a directory the index
 * lacks.
 */
export async function stepsFor(
  plan: DirtyPlan,
  entries: EntryRepository,
  scope: EntryScope,
): Promise<ApplyStep[]> {
  const marked = [
    ...plan.shallow.map((dir) => ({ dir, deep: false })),
    ...plan.deep.map((dir) => ({ dir, deep: true })),
  ];
  // Every ancestor of a marked directory, looked up once.
  const paths = new Set<string>();
  for (const { dir } of marked) for (let d = dir; d !== '/'; d = parentOf(d)) paths.add(d);
  const found = paths.size > 0 ? await entries.lookup(scope, [...paths]) : new Map();
  const indexed = (dir: string) => dir === '/' || found.get(dir)?.isDir === true;
  const steps = new Map<string, boolean>();
  const add = (dir: string, deep: boolean) => steps.set(dir, deep || (steps.get(dir) ?? false));
  const unindexed = new Set<string>();
  for (const { dir, deep } of marked) {
    let top: string | undefined;
    for (let d = dir; d !== '/'; d = parentOf(d)) if (!indexed(d)) top = d;
    if (top === undefined) add(dir, deep);
    else {
      add(parentOf(top), false);
      add(top, true);
      unindexed.add(top);
    }
  }
  const deepDirs = [...steps].filter(([, deep]) => deep).map(([dir]) => dir);
  const under = (dir: string) =>
    deepDirs.some((d) => d !== dir && (d === '/' || dir.startsWith(`${d}/`)));
  return [...steps]
    .filter(([dir]) => !under(dir))
    .map(([dir, deep]): ApplyStep =>
      unindexed.has(dir) ? { dir, deep, unindexed: true } : { dir, deep },
    )
    .sort((a, b) => Buffer.compare(Buffer.from(a.dir), Buffer.from(b.dir)));
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
