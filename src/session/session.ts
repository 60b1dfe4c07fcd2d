/**
 * A Session: one caller connected to one target through one engine. Created by the pipeline once the caller is
 * authenticated and allowed; engines hold it for the life of the connection. Holds no secret.
 */
import type { ProtocolName, Subject, Target } from './types.js';

/** An open session. */
export interface Session {
  id: string;
  protocol: ProtocolName;
  subject: Subject;
  target: Target;
  /** The database (or equivalent) on the target this session uses. */
  database: string;
  clientAddress: string;
  /** Epoch milliseconds. */
  startedAt: number;
  /** The caller's application name (PostgreSQL `application_name`), offered as the reason of approval requests. */
  applicationName?: string;
  /**
   * End the session after this many milliseconds without traffic (0 or absent: never): the smallest of the
   * policies' `session.idleTimeout` and the engine's own setting (OpenRequest.idleTimeoutMs). The engine enforces it.
   */
  idleTimeoutMs?: number;
}

/**
 * What the caller presented: a Warden token (as a password, a bearer), or a public key whose private half the
 * engine has already seen it hold (an SSH signature), for the pipeline's PublicKeyAuthenticator to map to a Subject.
 */
export type CallerCredential =
  | { kind: 'token'; token: string }
  | { kind: 'publicKey'; algorithm: string; key: Buffer };

/** What an engine knows when it asks the pipeline to open a session. */
export interface OpenRequest {
  protocol: ProtocolName;
  /** How the caller proved who it is (verified by the pipeline; a token is never stored or logged). */
  credential: CallerCredential;
  /** The user name the caller gave; must match the credential's subject. */
  user: string;
  targetName: string;
  /** A database other than the target's default, or undefined for the default. */
  database?: string;
  clientAddress: string;
  applicationName?: string;
  /** The engine's configured idle timeout (e.g. `--ssh-idle-timeout`): the default and upper bound; 0 or absent: none. */
  idleTimeoutMs?: number;
}
