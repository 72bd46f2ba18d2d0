import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortable } from '../src/scan/abortable.js';
import { untilAborted } from '../src/storage/service.js';
import { onAbort } from '../src/util/on-abort.js';

describe('onAbort', () => {
  it('calls each callback once, in order, and not those stopped', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    onAbort(controller.signal, () => calls.push(1));
    const stop = onAbort(controller.signal, () => calls.push(2));
    onAbort(controller.signal, () => calls.push(3));
    stop();
    controller.abort();
    controller.abort();
    expect(calls).toEqual([1, 3]);
  });

  it('keeps one listener on a signal however many waits share it', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const never = new Promise<never>(() => undefined);
    const waits = [
      ...Array.from({ length: 20 }, () => untilAborted(never, signal)),
      ...Array.from({ length: 20 }, () => abortable(never, signal)),
    ];
    // An EventTarget listener per wait was the cost on a scan's hot path (several a directory).
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    controller.abort();
    const codes = await Promise.all(
      waits.map((w) => w.then(String, (e: { code?: string }) => e.code)),
    );
    expect(codes).toEqual(Array.from({ length: 40 }, () => 'CANCELLED'));
  });
});
