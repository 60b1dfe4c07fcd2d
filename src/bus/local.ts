/**
 * The bus of a single Warden process: there is no other process to tell, so publish delivers nothing and
 * subscribers are never called. Used when Warden runs with one worker on the embedded store.
 */
import type { BusHealth, ChangeBus, ChangeEvent } from './types.js';

/** A ChangeBus for one process. */
export class LocalBus implements ChangeBus {
  async publish(_event: ChangeEvent): Promise<void> {
    // Nothing else runs: the publisher has already acted locally.
  }

  subscribe(_handler: (event: ChangeEvent) => void): () => void {
    return () => undefined;
  }

  health(): BusHealth {
    return { ok: true };
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}
