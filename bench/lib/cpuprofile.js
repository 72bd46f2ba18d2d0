#!/usr/bin/env node
/**
 * `node bench/lib/cpuprofile.js FILE.cpuprofile [--top N] [--categories]`: self time of a V8
 * CPU profile (`node --cpu-prof`) by function and by file, so a profile can be read without
 * DevTools; `--categories` splits it into startup and the parts of a scan instead.
 * Files under node_modules are grouped by package; `(garbage collector)`, `(program)` (native
 * work outside JS: syscalls, SQLite, module compilation) and `(idle)` stand alone.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** Self milliseconds by function and by file of one profile. */
export function summarize(profile) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < samples.length; i++) {
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  }
  const fns = new Map();
  const files = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { callFrame: f } = byId.get(id);
    const file = fileOf(f.url, f.functionName);
    const fn = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
    total += us;
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000]);
  return { totalMs: total / 1000, functions: sorted(fns), files: sorted(files) };
}

function fileOf(url, name) {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return `npm:${rest[0].startsWith('@') ? rest.slice(0, 2).join('/') : rest[0]}`;
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}

/** Where a sample's time goes, by the innermost frame that names a part of trawl or a cost. */
const CATEGORIES = [
  ['(idle)', 'idle (waiting for listings or timers)'],
  ['(garbage collector)', 'garbage collection'],
  ['db/sqlite/', 'SQLite (better-sqlite3 calls)'],
  ['npm:better-sqlite3', 'SQLite (better-sqlite3 calls)'],
  ['db/guard', 'async hooks (AsyncLocalStorage in db/guard)'],
  ['async_hooks', 'async hooks (AsyncLocalStorage in db/guard)'],
  ['storage/backends/local', 'local client (decode, read-ahead, messages)'],
  ['storage/', 'storage service (slots, limits, accounting)'],
  ['util/', 'storage service (slots, limits, accounting)'],
  ['npm:prom-client', 'storage service (slots, limits, accounting)'],
  ['scan/reconciler', 'reconciler and diff'],
  ['scan/diff', 'reconciler and diff'],
  ['scan/media', 'media classification'],
  ['scan/', 'engine (listers, checks, exclusions, channel)'],
  ['lstat', 'lstat / readdir syscalls'],
  ['readdir', 'lstat / readdir syscalls'],
  ['node:internal/fs', 'fs bindings (Stats objects, dates)'],
];

/**
 * The profile's time split into startup (until the scan engine first runs) and, after it,
 * categories: each sample goes to the first category whose key is in its stack's
 * innermost-first file or function names.
 */
export function categorize(profile) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labels = (id) => {
    const out = [];
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const f = byId.get(x).callFrame;
      out.push(`${fileOf(f.url, f.functionName)} ${f.functionName}`);
    }
    return out;
  };
  const inEngine = (stack) => stack.some((l) => l.startsWith('dist/scan/engine.js'));
  const out = new Map();
  let startup = 0;
  let started = false;
  for (let i = 0; i < samples.length; i++) {
    const us = timeDeltas[i] ?? 0;
    const stack = labels(samples[i]);
    if (!started && inEngine(stack)) started = true;
    if (!started) {
      startup += us;
      continue;
    }
    let cat = 'other (node internals, timers, promises)';
    outer: for (const l of stack) {
      for (const [key, name] of CATEGORIES) {
        if (l.includes(key)) {
          cat = name;
          break outer;
        }
      }
    }
    out.set(cat, (out.get(cat) ?? 0) + us);
  }
  return {
    startupMs: startup / 1000,
    categories: [...out].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000]),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, categories: { type: 'boolean' } },
  });
  const top = Number(values.top);
  for (const file of positionals) {
    if (values.categories) {
      const c = categorize(JSON.parse(readFileSync(file, 'utf8')));
      console.log(`${file}: startup ${c.startupMs.toFixed(0)} ms, then:`);
      for (const [k, ms] of c.categories) console.log(`  ${ms.toFixed(0).padStart(7)} ms  ${k}`);
      continue;
    }
    const s = summarize(JSON.parse(readFileSync(file, 'utf8')));
    const pct = (ms) =>
      `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / s.totalMs).toFixed(1).padStart(5)} %`;
    console.log(`${file}: ${s.totalMs.toFixed(0)} ms sampled`);
    console.log('  by file:');
    for (const [k, ms] of s.files.slice(0, top)) console.log(`  ${pct(ms)}  ${k}`);
    console.log('  by function:');
    for (const [k, ms] of s.functions.slice(0, top)) console.log(`  ${pct(ms)}  ${k}`);
  }
}
