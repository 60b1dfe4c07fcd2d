/**
 * The connections to HTTP targets: one undici Pool per target (keep-alive between requests and sessions, a maintained
 * HTTP/1.1 parser, per-request header timeouts). TLS is the target's: its CA bundle (or the system's), its server
 * name, its client certificate with the vaulted key. A pool is rebuilt when the target's URL, TLS fields or client
 * key change, so an edited target never reuses a connection made for the old one. Failures become caller-safe
 * WardenErrors: refused or reset -> 502, no answer headers in time -> 504; a body may stream as long as it likes (SSE).
 * A dead upstream fails only its own requests: each pool is its own. It never logs a credential.
 */
import { createHash } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { WardenError } from '../../errors.js';
import type { HttpCredentials, HttpTarget } from '../../session/types.js';
import { HttpStatusError } from './errors.js';

/** Timeouts of upstream requests. */
export interface HttpUpstreamTimeouts {
  /** Connect and TLS handshake (default 10 s). */
  connectMs?: number;
  /** From sending a request to its answer's headers (default 60 s). */
  headersMs?: number;
}

/** TLS options of a target as undici and ws take them. */
export interface HttpUpstreamTls {
  ca?: string;
  servername?: string;
  cert?: string;
  key?: string;
}

/** The TLS options of a target (the client key from the vault). */
export function httpUpstreamTls(target: HttpTarget, credentials: HttpCredentials): HttpUpstreamTls {
  const hostname = new URL(target.url).hostname;
  const servername = /^[\d.]+$|:|^\[/.test(hostname) ? undefined : hostname;
  return {
    ...(target.caCert !== null ? { ca: target.caCert } : {}),
    ...(servername !== undefined ? { servername } : {}),
    ...(target.clientCert !== null && credentials.clientKey !== null ? { cert: target.clientCert, key: credentials.clientKey } : {}),
  };
}

/** The origin (`https://host:port`) and base path (no trailing `/`) of a target's URL. */
export function targetBase(target: HttpTarget): { origin: string; prefix: string } {
  const url = new URL(target.url);
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') };
}

/** The pools of every target this listener talks to. */
export class HttpUpstreamPools {
  private readonly pools = new Map<string, { key: string; pool: Pool }>();

  constructor(private readonly timeouts: HttpUpstreamTimeouts = {}) {}

  /** The pool of a target, rebuilt when its connection fields or client key changed. */
  pool(target: HttpTarget, tls: HttpUpstreamTls): Pool {
    const { origin } = targetBase(target);
    const key = createHash('sha256').update(JSON.stringify([origin, tls.ca, tls.servername, tls.cert, tls.key])).digest('hex');
    const found = this.pools.get(target.name);
    if (found?.key === key) return found.pool;
    if (found) found.pool.close().catch(() => {});
    const pool = new Pool(origin, {
      connect: { ...tls, rejectUnauthorized: true, timeout: this.timeouts.connectMs ?? 10_000 },
      keepAliveTimeout: 30_000, keepAliveMaxTimeout: 300_000, connections: 128,
    });
    this.pools.set(target.name, { key, pool });
    return pool;
  }

  /** Sends one request; failures become WardenErrors with caller-safe messages. */
  async request(target: HttpTarget, tls: HttpUpstreamTls, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool(target, tls).request({ ...options, headersTimeout: this.timeouts.headersMs ?? 60_000, bodyTimeout: 0 });
    } catch (err) {
      throw httpUpstreamError(target, err);
    }
  }

  /** Closes every pool (at shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((e) => e.pool.destroy()));
    this.pools.clear();
  }
}

/** An upstream failure in words a caller may read (never the credential, never the raw error). */
export function httpUpstreamError(target: HttpTarget, err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  const code = (err as { code?: string }).code ?? '';
  const detail = err instanceof Error ? `${code} ${err.message}` : String(err);
  const where = `the upstream of target "${target.name}"`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new HttpStatusError(504, 'WARDEN_ERR_UPSTREAM_UNAVAILABLE', `${where} did not answer in time`, { detail });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new HttpStatusError(504, 'WARDEN_ERR_UPSTREAM_UNAVAILABLE', `${where} did not accept a connection in time`, { detail });
  }
  let message = `${where} could not be reached`;
  if (code === 'ECONNREFUSED') message = `${where} refused the connection`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') message = `${where} has a host name that does not resolve`;
  else if (/CERT|SELF_SIGNED|TLS|SSL/i.test(code) || /certificate|altnames/i.test(detail)) {
    message = `${where} presented a TLS certificate Warden does not trust (check the target's CA)`;
  } else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') message = `${where} closed the connection`;
  return new HttpStatusError(502, 'WARDEN_ERR_UPSTREAM_UNAVAILABLE', message, { detail });
}
