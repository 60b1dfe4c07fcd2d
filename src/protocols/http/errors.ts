/**
 * How Warden's errors look to an HTTP caller: an RFC 9457 problem document (`application/problem+json`) with
 * `type`, `title`, `status`, `detail` (the caller-safe message: WardenError.callerMessage, never a detail) and the
 * request id (also the `X-Warden-Request-Id` header of every answer), so a caller can always tell Warden's answer
 * from the upstream's. A 401 carries `WWW-Authenticate: Bearer realm="warden"`, never the upstream's.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorKind, WardenError } from '../../errors.js';
import { WardenError as WardenErrorClass, type ErrorCode } from '../../errors.js';

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
}

/** A WardenError with the HTTP status it must be answered with (504 for an upstream that did not answer in time). */
export class HttpStatusError extends WardenErrorClass {
  constructor(readonly status: number, code: ErrorCode, message: string, options: { detail?: string } = {}) {
    super(code, message, options);
  }
}

const BY_KIND: Record<ErrorKind, number> = {
  unauthenticated: 401, denied: 403, bad_input: 400, not_found: 404, conflict: 409, upstream: 502, unavailable: 503,
  internal: 500,
};

/** The status a WardenError is answered with. */
export function statusOf(err: WardenError): number {
  if (err instanceof HttpStatusError) return err.status;
  if (err.code === 'WARDEN_ERR_MESSAGE_TOO_LARGE') return 413;
  if (err.code === 'WARDEN_ERR_UNSUPPORTED') return 501;
  return BY_KIND[err.kind];
}

/** The problem document of an error. */
export function problemOf(err: WardenError, requestId: string): Problem {
  const status = statusOf(err);
  return { type: `urn:warden:error:${err.code}`, title: STATUS_CODES[status] ?? 'Error', status,
    detail: `warden: ${err.callerMessage}`, code: err.code, requestId };
}

/** The problem document of a policy denial (403, the rule's message). */
export function deniedProblem(message: string, requestId: string): Problem {
  return { type: 'urn:warden:error:WARDEN_ERR_ACCESS_DENIED', title: 'Forbidden', status: 403, detail: `warden: ${message}`,
    code: 'WARDEN_ERR_ACCESS_DENIED', requestId };
}

function headersOf(problem: Problem, body: string): Record<string, string | number> {
  const headers: Record<string, string | number> = { 'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-warden-request-id': problem.requestId };
  if (problem.status === 401) headers['www-authenticate'] = 'Bearer realm="warden"';
  return headers;
}

/** Sends `problem` as the whole answer; a response already started is cut instead (the caller sees an error). */
export function sendProblem(res: ServerResponse, problem: Problem, extra: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(problem);
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(problem.status, { ...headersOf(problem, body), ...extra });
  res.end(body);
}

/** Writes `problem` as a whole HTTP/1.1 answer on a raw socket and closes it (parser errors, refused upgrades). */
export function writeRawProblem(socket: Duplex, problem: Problem): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(problem);
  const lines = Object.entries(headersOf(problem, body)).map(([n, v]) => `${n}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n${lines}connection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}
