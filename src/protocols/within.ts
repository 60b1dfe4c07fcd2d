/**
 * A deadline for one step of a target test (DNS, TCP, TLS): the work, or a rejection with code ETIMEDOUT after `ms`,
 * whichever comes first. Never keeps the process alive; the work's own later failure is swallowed.
 */

/** Rejects after `ms` with code ETIMEDOUT unless `work` settles first. */
export function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
