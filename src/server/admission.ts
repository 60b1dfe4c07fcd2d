/**
 * Admission of connections that have not authenticated yet, for every protocol listener: a cap on how many may be
 * in their login phase at once, overall and per source (an IPv4 address, or an IPv6 /64, which one host usually
 * owns whole). A caller that connects and stalls costs a socket, buffers and a timer until its login deadline; without
 * a cap, thousands of them exhaust descriptors and memory and slow everyone's login. Authenticated sessions are not
 * counted here. This module only counts; the listener refuses in its protocol's words and the engine enforces the
 * login deadlines.
 */
import net from 'node:net';
import { WardenError } from '../errors.js';

/** Caps on connections in their login phase. */
export interface AdmissionLimits {
  /** Most connections in their login phase at once, from all sources together. */
  maxUnauthenticated: number;
  /** Most connections in their login phase at once from one source address (IPv6: one /64). */
  maxUnauthenticatedPerSource: number;
}

/** A place in the login phase; release it once the connection authenticated or closed (releasing twice is a no-op). */
export interface AdmissionTicket {
  release(): void;
}

/**
 * The key a source is counted under: the IPv4 address (IPv4-mapped IPv6 included), or the first 64 bits of an IPv6
 * address, since a single host is commonly given a whole /64.
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, zero-padded to four hex digits each. */
function expandIpv6(address: string): string[] {
  const [head, tail] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const middle = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => g.toLowerCase().padStart(4, '0'));
}

/** Counts connections in their login phase and refuses past the caps. */
export class LoginAdmission {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  /** Connections currently in their login phase. */
  get pending(): number {
    return this.total;
  }

  /**
   * Takes a place for a new connection from `address`, or returns the WardenError (WARDEN_ERR_TOO_MANY_CONNECTIONS)
   * to refuse it with when a cap is reached.
   */
  admit(address: string | undefined): AdmissionTicket | WardenError {
    const key = sourceKey(address);
    const fromSource = this.bySource.get(key) ?? 0;
    if (this.total >= this.limits.maxUnauthenticated) {
      return new WardenError('WARDEN_ERR_TOO_MANY_CONNECTIONS',
        'too many connections are logging in to Warden at once; try again shortly');
    }
    if (fromSource >= this.limits.maxUnauthenticatedPerSource) {
      return new WardenError('WARDEN_ERR_TOO_MANY_CONNECTIONS',
        'too many connections from your address are logging in to Warden at once; finish or close them first');
    }
    this.total++;
    this.bySource.set(key, fromSource + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.bySource.get(key) ?? 1) - 1;
        if (left <= 0) this.bySource.delete(key);
        else this.bySource.set(key, left);
      },
    };
  }
}
