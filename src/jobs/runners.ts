import type { App } from '../app.js';
import { EmbeddedWorker, type EmbeddedWorkerOptions } from './embedded-worker.js';
import type { ScanRunner } from './scan-runner.js';
import { ScanWorker, type ScanWorkerOptions } from './worker.js';

/** The runner for `app`'s mode: the fleet's when it has Redis, else the embedded one. */
export function scanRunner(
  app: App,
  options: ScanWorkerOptions & EmbeddedWorkerOptions,
): ScanRunner {
  return app.fleet ? new ScanWorker(app, options) : new EmbeddedWorker(app, options);
}
