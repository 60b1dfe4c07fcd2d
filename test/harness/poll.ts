/**
 * Waiting for an effect instead of sleeping: polls a check until it yields a value, and fails with the check's last
 * error (or a timeout naming what was awaited) when it never does. The one way these tests wait for something
 * asynchronous (a recording flushed, a session registered, a connection closed) that has no event to await.
 */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Calls `check` until it returns a value other than undefined (or stops throwing), every `intervalMs`, for at most
 * `timeoutMs`; returns that value. A deadline, not a synchronisation: a test passes as soon as the effect is seen.
 */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      if (lastError instanceof Error) throw lastError;
      throw new Error(`timed out waiting for ${what}`);
    }
    await delay(options.intervalMs ?? 25);
  }
}
