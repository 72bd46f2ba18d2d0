import { Semaphore } from '../../util/semaphore.js';

/**
 * One semaphore per key (a limit key, a tenant), created on first use. A key's limit can be
 * changed later (a new config); holders keep their slots and the new limit applies to the
 * next admissions. Semaphores stay for the life of the process: one per host or tenant.
 */
export class KeyedSemaphores<K> {
  readonly #gates = new Map<K, Semaphore>();

  gate(key: K, limit: number): Semaphore {
    let gate = this.#gates.get(key);
    if (!gate) {
      gate = new Semaphore(limit);
      this.#gates.set(key, gate);
    } else if (gate.limit !== limit) {
      gate.limit = limit;
    }
    return gate;
  }

  get(key: K): Semaphore | undefined {
    return this.#gates.get(key);
  }
}
