/**
 * Words for what went wrong between Warden and an upstream PostgreSQL server, precise enough for the caller to act
 * on ("connection refused by 10.0.0.5:5432", "the server does not accept TLS but the target requires it") and
 * safe to send: they name the target, its address and stable codes (SQLSTATE, errno, certificate error), never a
 * credential, the backend role or server text that could carry either. The system error and server text stay in
 * `detail`, which is only logged.
 */
import { WardenError } from '../../errors.js';
import type { PostgresTarget } from '../../session/types.js';

/** An upstream's own error during startup (e.g. 3D000 database does not exist); engine may relay its code and message. */
export class UpstreamStartupError extends WardenError {
  /** The ErrorResponse fields by their one-letter codes (C = SQLSTATE, M = message, S = severity, ...). */
  readonly fields: Record<string, string>;

  constructor(targetName: string, fields: Record<string, string>) {
    super('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `target "${targetName}" refused the session: ${fields.M ?? 'unknown error'}`,
      { detail: formatFields(fields) });
    this.name = 'UpstreamStartupError';
    this.fields = fields;
  }
}

/** An ErrorResponse as one log line. */
export function formatFields(fields: Record<string, string>): string {
  return `${fields.S ?? 'ERROR'} ${fields.C ?? '?????'}: ${fields.M ?? ''}${fields.D ? ` (${fields.D})` : ''}`;
}

/** `host:port` as a caller may read it (IPv6 in brackets). */
export function address(target: Pick<PostgresTarget, 'host' | 'port'>): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/** The target cannot be reached; `reason` says why in caller-safe words. */
export function unreachable(target: PostgresTarget, reason: string, detail?: string, cause?: unknown): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `target "${target.name}" is unreachable: ${reason}`,
    { detail: detail ?? reason, cause });
}

/** Warden's login to the target failed; `reason` says why in caller-safe words. */
export function authFailed(target: PostgresTarget, reason: string, detail?: string, cause?: unknown): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_AUTH', `upstream authentication failed for target "${target.name}": ${reason}`,
    { detail: detail ?? reason, cause });
}

/** The target broke the protocol. */
export function badProtocol(target: PostgresTarget, detail: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `target "${target.name}" sent an invalid message`, { detail });
}

/** Caller-safe reasons for the system errors of a TCP connection, by errno code. */
const SOCKET_REASONS: Record<string, (t: PostgresTarget) => string> = {
  ECONNREFUSED: (t) => `connection refused by ${address(t)}`,
  ENOTFOUND: (t) => `host name ${t.host} could not be resolved`,
  EAI_AGAIN: (t) => `host name ${t.host} could not be resolved (temporary DNS failure)`,
  EAI_FAIL: (t) => `host name ${t.host} could not be resolved`,
  ENODATA: (t) => `host name ${t.host} has no address`,
  ETIMEDOUT: (t) => `no answer from ${address(t)}`,
  EHOSTUNREACH: (t) => `no route to host ${address(t)}`,
  ENETUNREACH: (t) => `no route to host ${address(t)} (network unreachable)`,
  ECONNRESET: (t) => `the connection to ${address(t)} was reset by the server`,
  EPIPE: (t) => `the connection to ${address(t)} was closed by the server`,
};

/** Why a TCP connection (or a name lookup) failed, in caller-safe words. */
export function socketReason(target: PostgresTarget, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  return SOCKET_REASONS[code]?.(target) ?? `connecting to ${address(target)} failed (${code})`;
}

/** A failed TCP connection (or a socket error before TLS) as a caller-safe WardenError. */
export function socketFailure(target: PostgresTarget, err: unknown): WardenError {
  const e = err as NodeJS.ErrnoException | undefined;
  return unreachable(target, socketReason(target, err), `${e?.code ?? 'error'}: ${e?.message ?? String(err)} (${address(target)})`, err);
}

/** Certificate problems a caller can fix, by Node's (OpenSSL's) error code. */
const CERTIFICATE_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server\'s certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server\'s certificate chains to a CA the target does not trust',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server\'s certificate is not signed by a CA the target trusts',
  UNABLE_TO_GET_ISSUER_CERT: 'the server\'s certificate is not signed by a CA the target trusts',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server\'s certificate is not signed by a CA the target trusts',
  CERT_HAS_EXPIRED: 'the server\'s certificate has expired',
  CERT_NOT_YET_VALID: 'the server\'s certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server\'s certificate does not name the target\'s host',
};

/** Why a TLS handshake failed, in caller-safe words: certificate problems by name, others by code. */
export function tlsReason(target: PostgresTarget, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  const certificate = CERTIFICATE_REASONS[code];
  return certificate !== undefined
    ? `${certificate} (${code}); tls ${target.tls} needs a certificate for ${target.host} from a CA in the target's CA bundle ` +
      'or the system\'s'
    : `the TLS handshake with ${address(target)} failed (${code})`;
}

/** A failed TLS handshake as a caller-safe WardenError. */
export function tlsFailure(target: PostgresTarget, err: unknown): WardenError {
  const message = (err as Error | undefined)?.message ?? String(err);
  const reason = tlsReason(target, err);
  return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `TLS connection to target "${target.name}" failed: ${reason}`,
    { detail: `tls mode ${target.tls}: ${message}`, cause: err });
}

/** Why TLS failed when the server answered SSLRequest with N while the target's mode needs TLS. */
export function tlsRefusedReason(target: PostgresTarget): string {
  return `the server does not accept TLS but the target requires it (tls ${target.tls})`;
}

/** The server answered SSLRequest with N while the target's mode needs TLS. */
export function tlsRefused(target: PostgresTarget): WardenError {
  return unreachable(target, tlsRefusedReason(target));
}

/**
 * A startup ErrorResponse as a WardenError. 28P01 (wrong password) and 28000 (no pg_hba.conf entry, role missing
 * or not allowed to log in) are about Warden's credentials: the server's text names the backend role, so only the
 * class of the problem is told; other errors (3D000 unknown database, ...) keep the server's fields for the caller.
 */
export function startupFailure(target: PostgresTarget, fields: Record<string, string>): WardenError {
  const detail = formatFields(fields);
  if (fields.C === '28P01') return authFailed(target, 'the target\'s credentials were rejected by the server (28P01)', detail);
  if (fields.C === '28000') {
    const message = fields.M ?? '';
    let reason = 'the server refused the target\'s login (28000)';
    if (/pg_hba\.conf/.test(message)) {
      reason = /no encryption/.test(message)
        ? 'the server requires TLS for the target\'s login but the target connects without it (28000, pg_hba.conf)'
        : 'no pg_hba.conf entry on the server allows the target\'s login (28000)';
    } else if (/not permitted to log in/.test(message)) reason = 'the target\'s role may not log in (28000)';
    else if (/does not exist/.test(message)) reason = 'the target\'s role does not exist on the server (28000)';
    return authFailed(target, reason, detail);
  }
  return new UpstreamStartupError(target.name, fields);
}
