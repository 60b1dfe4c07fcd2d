/**
 * Rate limit on failed SSH logins per source (an IPv4 address or an IPv6 /64, as the login admission counts them):
 * past `maxFailures` failures within `windowMs`, further attempts from that source are refused without being
 * checked, until the window has passed. Guessing tokens or keys costs the attacker the window, not Warden's CPU.
 * Counting only; the engine refuses. Memory is bounded: at most `maxSources` sources are tracked (oldest dropped).
 */
import { sourceKey } from '../../server/admission.js';

/** Limits of AuthFailureLimiter. */
export interface AuthFailureLimits {
  maxFailures: number;
  windowMs: number;
  maxSources?: number;
}

/** Default: 20 failed attempts per source per minute. */
export const DEFAULT_AUTH_FAILURE_LIMITS: AuthFailureLimits = { maxFailures: 20, windowMs: 60_000, maxSources: 100_000 };

/** Counts failed logins per source. */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly limits: AuthFailureLimits = DEFAULT_AUTH_FAILURE_LIMITS, private readonly now = () => Date.now()) {}

  /** True when `address` may try to log in now. */
  allowed(address: string | undefined): boolean {
    const entry = this.failures.get(sourceKey(address));
    if (entry === undefined) return true;
    if (this.now() - entry.since >= this.limits.windowMs) {
      this.failures.delete(sourceKey(address));
      return true;
    }
    return entry.count < this.limits.maxFailures;
  }

  /** Counts one failed attempt from `address`. */
  failed(address: string | undefined): void {
    const key = sourceKey(address);
    const now = this.now();
    const entry = this.failures.get(key);
    if (entry === undefined || now - entry.since >= this.limits.windowMs) {
      this.failures.delete(key);
      this.failures.set(key, { count: 1, since: now });
      const cap = this.limits.maxSources ?? 100_000;
      if (this.failures.size > cap) this.failures.delete(this.failures.keys().next().value!);
      return;
    }
    entry.count++;
  }
}
