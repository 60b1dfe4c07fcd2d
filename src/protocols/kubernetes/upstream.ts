/**
 * The connections to Kubernetes API servers: one undici Pool per target, keeping connections alive between requests
 * and sessions (undici rather than node:http for its pooling, per-request header and body timeouts and its
 * maintained HTTP/1.1 parser). TLS is the target's: its CA bundle (or the system's), its server name, its client
 * certificate with the vaulted key. The vaulted bearer token is injected per request; the caller's credential never
 * travels. A pool is rebuilt when the target's connection fields or client key change, so an edited target never
 * reuses a connection made for the old one. It never logs a credential.
 */
import { createHash } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { WardenError } from '../../errors.js';
import type { KubernetesCredentials, KubernetesTarget } from '../../session/types.js';

/** Timeouts of upstream requests. */
export interface UpstreamTimeouts {
  /** Connect and TLS handshake (default 10 s). */
  connectMs?: number;
  /** From sending a request to its response headers (default 30 s). */
  headersMs?: number;
  /** Between two chunks of an ordinary response body (default 60 s); long-running requests (watch, follow) have none. */
  bodyMs?: number;
}

/** TLS options of a target as ws and undici take them. */
export interface UpstreamTls {
  ca?: string;
  servername?: string;
  cert?: string;
  key?: string;
}

/** The TLS options of a target (the client key from the vault). */
export function upstreamTls(target: KubernetesTarget, credentials: KubernetesCredentials): UpstreamTls {
  const hostname = new URL(target.server).hostname;
  const servername = target.tlsServerName ?? (/^[\d.]+$|:/.test(hostname) ? undefined : hostname);
  return {
    ...(target.caCert !== null ? { ca: target.caCert } : {}),
    ...(servername !== undefined ? { servername } : {}),
    ...(target.clientCert !== null && credentials.clientKey !== null ? { cert: target.clientCert, key: credentials.clientKey } : {}),
  };
}

/** The origin (`https://host:port`) and path prefix (no trailing `/`) of a target's server URL. */
export function serverBase(target: Pick<KubernetesTarget, 'server'>): { origin: string; prefix: string } {
  const url = new URL(target.server);
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') };
}

/** The headers Warden adds upstream: the vaulted token, and the caller as impersonated user when the target says so. */
export function credentialHeaders(target: KubernetesTarget, credentials: KubernetesCredentials,
  subject: { id: string; groups: string[] }): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (credentials.token !== null) headers.authorization = `Bearer ${credentials.token}`;
  if (target.impersonate) {
    headers['impersonate-user'] = subject.id;
    if (subject.groups.length > 0) headers['impersonate-group'] = [...subject.groups];
  }
  return headers;
}

interface PoolEntry {
  key: string;
  pool: Pool;
}

/** The pools of every target this process talks to. */
export class UpstreamPools {
  private readonly pools = new Map<string, PoolEntry>();

  constructor(private readonly timeouts: UpstreamTimeouts = {}) {}

  /** The pool of a target, rebuilt when its connection fields or client key changed (the HTTP engine's too: `server` its origin). */
  pool(target: Pick<KubernetesTarget, 'name' | 'server'>, tls: UpstreamTls): Pool {
    const { origin } = serverBase(target);
    const key = createHash('sha256').update(JSON.stringify([origin, tls.ca, tls.servername, tls.cert, tls.key])).digest('hex');
    const found = this.pools.get(target.name);
    if (found?.key === key) return found.pool;
    if (found) found.pool.close().catch(() => {});
    const pool = new Pool(origin, {
      connect: { ...tls, rejectUnauthorized: true, timeout: this.timeouts.connectMs ?? 10_000 },
      keepAliveTimeout: 30_000, keepAliveMaxTimeout: 300_000, connections: 64,
    });
    this.pools.set(target.name, { key, pool });
    return pool;
  }

  /** Sends one request; upstream failures become WardenErrors with caller-safe messages. */
  async request(target: KubernetesTarget, tls: UpstreamTls, options: Dispatcher.RequestOptions & { longRunning: boolean }): Promise<Dispatcher.ResponseData> {
    const { longRunning, ...rest } = options;
    try {
      return await this.pool(target, tls).request({ ...rest,
        headersTimeout: this.timeouts.headersMs ?? 30_000, bodyTimeout: longRunning ? 0 : this.timeouts.bodyMs ?? 60_000 });
    } catch (err) {
      throw upstreamError(target, err);
    }
  }

  /** Closes every pool (at shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((e) => e.pool.destroy()));
    this.pools.clear();
  }
}

/** An upstream failure in words a caller may read (never the credential, never the raw error). */
export function upstreamError(target: KubernetesTarget, err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  const code = (err as { code?: string }).code ?? '';
  const detail = err instanceof Error ? `${code} ${err.message}` : String(err);
  const where = `the API server of target "${target.name}"`;
  let message = `${where} could not be reached`;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') message = `${where} did not accept a connection in time`;
  else if (code === 'UND_ERR_HEADERS_TIMEOUT') message = `${where} did not answer in time`;
  else if (code === 'UND_ERR_BODY_TIMEOUT') message = `${where} stopped sending its answer`;
  else if (code === 'ECONNREFUSED') message = `${where} refused the connection`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') message = `${where} has a host name that does not resolve`;
  else if (/CERT|SELF_SIGNED|TLS|SSL|ERR_TLS/i.test(code) || /certificate|altnames/i.test(detail)) {
    message = `${where} presented a TLS certificate Warden does not trust (check the target's CA and server name)`;
  } else if (code === 'UND_ERR_ABORTED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') message = `${where} closed the connection`;
  return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', message, { detail });
}
