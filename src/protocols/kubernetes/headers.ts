/**
 * Which of a caller's request headers reach the API server. An allow-list, so a header Warden does not know
 * (`X-HTTP-Method-Override`, `X-Forwarded-*`, cookies, a second Authorization) can never make the cluster serve
 * something other than what was judged: only content negotiation and kubectl's own descriptive headers pass. The
 * caller's `Authorization` (its Warden token) never does; `Impersonate-*` headers are collected separately (the
 * analyser judges them, class `privilege`) and passed only when a rule allowed them. Pure: no I/O.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { WardenError } from '../../errors.js';

/** Request headers passed upstream as they are. */
const PASSED = new Set(['accept', 'content-type', 'user-agent', 'kubectl-command', 'kubectl-session', 'audit-id',
  'accept-language', 'x-request-id']);

/** Headers that would make the server read the method, path or body differently: refused outright. */
const REFUSED = new Set(['x-http-method-override', 'x-http-method', 'x-method-override', 'content-encoding']);

/** What Warden takes from a caller's headers. */
export interface CallerHeaders {
  /** The Warden token of `Authorization: Bearer <token>`; undefined when absent. */
  token?: string;
  /** Headers to pass upstream (lower-case names). */
  passed: Record<string, string>;
  /** The caller's `Impersonate-*` headers as `Name: value` lines (sorted, for the analyser); '' when none. */
  impersonate: string;
  /** The same headers as they are forwarded when a rule allows them. */
  impersonateHeaders: Array<[string, string]>;
}

/** Splits a caller's headers; throws WARDEN_ERR_BAD_REQUEST for headers that would change what the server does. */
export function readCallerHeaders(headers: IncomingHttpHeaders, rawHeaders: string[]): CallerHeaders {
  const passed: Record<string, string> = {};
  const impersonateHeaders: Array<[string, string]> = [];
  for (const name of Object.keys(headers)) {
    if (REFUSED.has(name) && !(name === 'content-encoding' && headers[name] === 'identity')) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `Warden does not forward the ${name} header`);
    }
  }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name.startsWith('impersonate-')) impersonateHeaders.push([name, rawHeaders[i + 1]]);
  }
  for (const name of PASSED) {
    const value = headers[name];
    if (typeof value === 'string') passed[name] = value;
  }
  const lines = impersonateHeaders.map(([n, v]) => `${n}: ${v}`).sort();
  return { token: bearer(headers.authorization), passed, impersonate: lines.join('\n'), impersonateHeaders };
}

/** The token of `Bearer <token>` (scheme case-insensitive), else undefined. */
export function bearer(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer +(\S+)\s*$/i.exec(authorization);
  return m === null ? undefined : m[1];
}

/**
 * The Accept header to send when a response must be inspected: protobuf, CBOR and YAML (which Warden does not
 * mask) removed, so the API server answers in JSON; `application/json` when nothing is left.
 */
export function jsonOnlyAccept(accept: string | undefined): string {
  const kept = (accept ?? '').split(',').map((s) => s.trim())
    .filter((s) => s !== '' && !/protobuf|cbor|yaml/i.test(s));
  return kept.length > 0 ? kept.join(', ') : 'application/json';
}
