/**
 * How Warden's errors look to a Kubernetes client: a `Status` object (apiVersion v1, status Failure) with the HTTP
 * code, reason and message kubectl prints, e.g. `Error from server (Forbidden): ...` for a denial, just as it prints
 * an RBAC refusal. Only caller-safe text is ever rendered (WardenError.callerMessage); details stay in logs.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorKind, WardenError } from '../../errors.js';

/** A Kubernetes `Status` object (meta/v1) describing a failure. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
}

/** The Status for an HTTP code, a Kubernetes reason (`Forbidden`, `NotFound`, ...) and a message. */
export function kubeStatus(code: number, reason: string, message: string): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** HTTP code and Kubernetes reason of each kind of Warden failure. */
const BY_KIND: Record<ErrorKind, { code: number; reason: string }> = {
  unauthenticated: { code: 401, reason: 'Unauthorized' },
  denied: { code: 403, reason: 'Forbidden' },
  bad_input: { code: 400, reason: 'BadRequest' },
  not_found: { code: 404, reason: 'NotFound' },
  conflict: { code: 409, reason: 'Conflict' },
  upstream: { code: 502, reason: 'InternalError' },
  unavailable: { code: 503, reason: 'ServiceUnavailable' },
  internal: { code: 500, reason: 'InternalError' },
};

/** The Status a WardenError becomes: `warden: MESSAGE (CODE)` so the caller can tell Warden from the cluster. */
export function statusForError(err: WardenError): KubeStatus {
  const { code, reason } = err.code === 'WARDEN_ERR_MESSAGE_TOO_LARGE' ? { code: 413, reason: 'RequestEntityTooLarge' }
    : err.code === 'WARDEN_ERR_UPSTREAM_UNAVAILABLE' ? { code: 503, reason: 'ServiceUnavailable' } : BY_KIND[err.kind];
  return kubeStatus(code, reason, `warden: ${err.callerMessage} (${err.code})`);
}

/** The Status of a request the policy refused: 403 Forbidden with the rule's message. */
export function deniedStatus(message: string): KubeStatus {
  return kubeStatus(403, 'Forbidden', `warden: ${message}`);
}

/**
 * Sends `status` as the whole answer (nothing was sent yet). `extra` headers (e.g. a Warning) go with it. A
 * response already started cannot carry a Status: the connection is cut instead, so the client sees an error.
 */
export function sendStatus(res: ServerResponse, status: KubeStatus, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(status);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store', ...extra };
  if (status.code === 401) headers['www-authenticate'] = 'Bearer realm="warden"';
  res.writeHead(status.code, headers);
  res.end(body);
}

/** One line of a `Warning` header (RFC 7234 form, as the API server sends them and kubectl prints them). */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/["\\\r\n]/g, ' ')}"`;
}
