/**
 * How Warden's errors look to a PostgreSQL caller: WardenError kinds and codes mapped to SQLSTATEs, rendered as
 * ErrorResponse messages. Only caller-safe text is ever rendered (WardenError.callerMessage); details stay in logs.
 */
import type { ErrorCode, WardenError } from '../../errors.js';
import { encodeErrorResponse, type PgErrorFields } from './codec.js';

/** SQLSTATE per Warden error code; codes missing here fall back to their kind's SQLSTATE. */
const SQLSTATE_BY_CODE: Partial<Record<ErrorCode, string>> = {
  WARDEN_ERR_UNAUTHENTICATED: '28P01',
  WARDEN_ERR_TOKEN_INVALID: '28P01',
  WARDEN_ERR_TOKEN_EXPIRED: '28P01',
  WARDEN_ERR_TOKEN_REVOKED: '28P01',
  WARDEN_ERR_PRINCIPAL_DISABLED: '28000',
  WARDEN_ERR_TLS_REQUIRED: '28000',
  WARDEN_ERR_ACCESS_DENIED: '28000',
  WARDEN_ERR_FORBIDDEN: '42501',
  WARDEN_ERR_TARGET_NOT_FOUND: '3D000',
  WARDEN_ERR_PROTOCOL: '08P01',
  WARDEN_ERR_MESSAGE_TOO_LARGE: '54000',
  WARDEN_ERR_UNSUPPORTED: '0A000',
  WARDEN_ERR_UPSTREAM_UNAVAILABLE: '08006',
  WARDEN_ERR_UPSTREAM_AUTH: '08004',
  WARDEN_ERR_UPSTREAM_PROTOCOL: '08P01',
  WARDEN_ERR_SHUTTING_DOWN: '57P01',
  WARDEN_ERR_SESSION_TERMINATED: '57P01',
  WARDEN_ERR_STORE_UNAVAILABLE: '57P03',
  WARDEN_ERR_TOO_MANY_CONNECTIONS: '53300',
};

const SQLSTATE_BY_KIND: Record<WardenError['kind'], string> = {
  unauthenticated: '28P01',
  denied: '42501',
  bad_input: '08P01',
  not_found: '42704',
  conflict: '55000',
  upstream: '08006',
  unavailable: '57P03',
  internal: 'XX000',
};

/** The SQLSTATE a caller sees for a Warden error. */
export function sqlstateFor(err: WardenError): string {
  return SQLSTATE_BY_CODE[err.code] ?? SQLSTATE_BY_KIND[err.kind];
}

/** ErrorResponse fields for a Warden error; the Warden code goes in the hint so scripts can match on it. */
export function errorFields(err: WardenError, severity: PgErrorFields['severity'] = 'FATAL'): PgErrorFields {
  return { severity, code: sqlstateFor(err), message: err.callerMessage, hint: `Warden error code ${err.code}` };
}

/** A whole ErrorResponse message for a Warden error. */
export function encodeWardenError(err: WardenError, severity: PgErrorFields['severity'] = 'FATAL'): Buffer {
  return encodeErrorResponse(errorFields(err, severity));
}
