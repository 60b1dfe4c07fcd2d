/**
 * Warden's one error type. Every failure that can reach a caller, an API client or a log carries a stable code
 * (`WARDEN_ERR_*`), a kind that decides how each protocol renders it, and a flag saying whether the caller may see
 * the message. Internal details (upstream error text, stack traces) stay in `detail` and are only logged.
 * This module must never import anything from Warden: every other module depends on it.
 */

/** How a failure is classified; each protocol maps kinds to its own error format (SQLSTATE, HTTP status, ...). */
export type ErrorKind =
  | 'unauthenticated'
  | 'denied'
  | 'bad_input'
  | 'not_found'
  | 'conflict'
  | 'upstream'
  | 'unavailable'
  | 'internal';

/** The stable error codes, with the kind each one has. Add codes here, never invent them at a throw site. */
export const ERROR_CODES = {
  WARDEN_ERR_UNAUTHENTICATED: 'unauthenticated',
  WARDEN_ERR_TOKEN_INVALID: 'unauthenticated',
  WARDEN_ERR_TOKEN_EXPIRED: 'unauthenticated',
  WARDEN_ERR_TOKEN_REVOKED: 'unauthenticated',
  WARDEN_ERR_PRINCIPAL_DISABLED: 'unauthenticated',
  WARDEN_ERR_SSH_KEY_REJECTED: 'unauthenticated',
  WARDEN_ERR_SSH_CERT_INVALID: 'unauthenticated',
  WARDEN_ERR_SSH_CERT_EXPIRED: 'unauthenticated',
  WARDEN_ERR_TLS_REQUIRED: 'denied',
  WARDEN_ERR_ACCESS_DENIED: 'denied',
  WARDEN_ERR_FORBIDDEN: 'denied',
  WARDEN_ERR_TARGET_NOT_FOUND: 'not_found',
  WARDEN_ERR_NOT_FOUND: 'not_found',
  WARDEN_ERR_CONFLICT: 'conflict',
  WARDEN_ERR_DATA_DIR_LOCKED: 'conflict',
  WARDEN_ERR_PORT_IN_USE: 'conflict',
  WARDEN_ERR_BAD_REQUEST: 'bad_input',
  WARDEN_ERR_PROTOCOL: 'bad_input',
  WARDEN_ERR_MESSAGE_TOO_LARGE: 'bad_input',
  WARDEN_ERR_UNSUPPORTED: 'bad_input',
  WARDEN_ERR_UPSTREAM_UNAVAILABLE: 'upstream',
  WARDEN_ERR_UPSTREAM_AUTH: 'upstream',
  WARDEN_ERR_UPSTREAM_PROTOCOL: 'upstream',
  WARDEN_ERR_UPSTREAM_HOST_KEY: 'upstream',
  WARDEN_ERR_SHUTTING_DOWN: 'unavailable',
  WARDEN_ERR_SESSION_TERMINATED: 'unavailable',
  WARDEN_ERR_STORE_UNAVAILABLE: 'unavailable',
  WARDEN_ERR_TOO_MANY_CONNECTIONS: 'unavailable',
  WARDEN_ERR_INTERNAL: 'internal',
} as const satisfies Record<string, ErrorKind>;

/** One of the stable `WARDEN_ERR_*` codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of a WardenError beyond its code and message. */
export interface WardenErrorOptions {
  /** May the caller see `message`? Defaults to true: messages are written for callers unless said otherwise. */
  public?: boolean;
  /** Internal detail for the log only (never sent to a caller). */
  detail?: string;
  cause?: unknown;
}

/** A failure with a stable code. `message` is what a caller sees when `public` is true. */
export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly public: boolean;
  readonly detail?: string;

  constructor(code: ErrorCode, message: string, options: WardenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.kind = ERROR_CODES[code];
    this.public = options.public ?? true;
    this.detail = options.detail;
  }

  /** The message a caller may see: the real one when public, a generic one otherwise. */
  get callerMessage(): string {
    return this.public ? this.message : 'internal error in Warden';
  }
}

/** Wraps anything thrown into a WardenError, hiding unknown errors' text from callers. */
export function toWardenError(err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  const detail = err instanceof Error ? err.stack ?? err.message : String(err);
  return new WardenError('WARDEN_ERR_INTERNAL', 'internal error in Warden', { public: false, detail, cause: err });
}
