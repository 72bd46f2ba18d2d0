/**
 * Runs a command as a child process and measures it from outside: wall time around the
 * spawn; peak RSS and CPU seconds (user + system) from `/usr/bin/time -f '%M %U %S'` when
 * that tool is installed (GNU time reports the child's rusage, which Node cannot read for a
 * grandchild). CPU time tells a slow run on a busy machine from a slow program.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const TIME = '/usr/bin/time';
export const canMeasureRss = existsSync(TIME);

/** @returns {Promise<{ms: number, rssMb: number | null, cpuS: number | null, stdout: string, code: number}>} */
export function measure(cmd, args, { discardStdout = false } = {}) {
  const rssFile = join(
    tmpdir(),
    `trawl-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const argv = canMeasureRss ? ['-f', '%M %U %S', '-o', rssFile, cmd, ...args] : args;
  const file = canMeasureRss ? TIME : cmd;
  const devNull = discardStdout ? openSync('/dev/null', 'w') : null;
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { stdio: ['ignore', devNull ?? 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (s) => (stdout += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (devNull !== null) closeSync(devNull);
      let rssMb = null;
      let cpuS = null;
      if (canMeasureRss && existsSync(rssFile)) {
        const last = readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '';
        const [kb, user, sys] = last.split(' ').map(Number);
        if (Number.isFinite(kb)) rssMb = kb / 1024;
        if (Number.isFinite(user) && Number.isFinite(sys)) cpuS = user + sys;
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, rssMb, cpuS, stdout, code: code ?? -1 });
    });
  });
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
