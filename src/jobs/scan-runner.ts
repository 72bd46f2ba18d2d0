/**
 * What runs a process's scans, behind one interface with two implementations: in a fleet
 * the BullMQ worker (jobs from the shared queue, schedules fired by BullMQ); embedded, the
 * in-process worker (this process's own schedules, no Redis). `trawl worker` — and any other
 * host of scans — takes the one `scanRunner` (runners.ts) gives for the app's mode.
 */
export interface ScanRunner {
  /** Starts taking scans. */
  start(): void;
  /** Drains: takes no more, cancels the scans running cleanly, gives their leases back. */
  stop(): Promise<void>;
  /** Asks for a look at the work now (embedded: a scan was just queued); a no-op in a fleet. */
  wake(): void;
  /** Scans running now. */
  readonly active: number;
}
