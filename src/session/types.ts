/**
 * The protocol-neutral vocabulary of a session: who is calling (Subject), what they reach (Target), what they ask
 * (Command) and what Warden decides (Verdict). Engines translate their wire format into these; the pipeline decides
 * on them. This module holds types only, no behaviour.
 */
import type { RecordedParam } from '../recording/values.js';

/** What kind of principal a subject or an actor in a delegation chain is. */
export type PrincipalKind = 'user' | 'service' | 'agent';

/** One link of a delegation chain: who acts on behalf of the next one. */
export interface Actor {
  id: string;
  kind: PrincipalKind;
}

/** A verified caller, built from a Warden token. */
export interface Subject {
  /** The caller's name (a user name, a service account name). */
  id: string;
  kind: PrincipalKind;
  groups: string[];
  /**
   * The principals the caller acts for, from the origin of the delegation (e.g. the person) to the one that
   * delegated to the caller; empty when the caller acts for itself.
   */
  chain: Actor[];
  /** The `jti` of the token that authenticated this subject. */
  tokenId: string;
  /** Target name patterns the token is limited to (`*` = every target). */
  targets: string[];
  /** When the token expires (epoch seconds). */
  expiresAt: number;
  /** Statement classes a delegated token is narrowed to; absent means every class. */
  classes?: string[];
  /**
   * For a delegated token: every group of every token of its delegation chain, the caller's own included. Policy
   * restrictions (deny, require_approval, masking) match these as well as `groups`, because delegation only narrows:
   * a sub-agent must never shed a restriction by leaving a group out. Allow rules match `groups` alone.
   */
  chainGroups?: string[];
}

/**
 * A registered protocol's name (`postgres`, `ssh`; later `kubernetes`, `http`). Which names exist is the
 * ProtocolRegistry's business, not this type's: adding a protocol must not touch the pipeline's types.
 */
export type ProtocolName = string;

/** Upstream TLS modes, with libpq's meanings. */
export type TlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

/** What every target has, whatever its protocol. */
export interface TargetCommon {
  name: string;
  labels: Record<string, string>;
}

/** A PostgreSQL backend (fields validated by the postgres protocol's target spec). */
export interface PostgresTarget extends TargetCommon {
  type: 'postgres';
  host: string;
  port: number;
  database: string;
  user: string;
  tls: TlsMode;
  /** PEM CA bundle trusted for `verify-full` (in addition to the system's), null for the system's alone. */
  ca: string | null;
}

/** An SSH server (fields validated by the ssh protocol's target spec). */
export interface SshTarget extends TargetCommon {
  type: 'ssh';
  host: string;
  port: number;
  /** The account Warden logs in as upstream. */
  user: string;
  /**
   * The pinned host key (`SHA256:...`, OpenSSH's spelling); null until the first key seen is recorded (then it is
   * enforced), or when the operator pinned none.
   */
  hostKeyFingerprint: string | null;
}

/** A Kubernetes API server (fields validated by the kubernetes protocol's target spec). */
export interface KubernetesTarget extends TargetCommon {
  type: 'kubernetes';
  /** The API server's URL (`https://host:6443`, possibly with a path prefix). */
  server: string;
  /** PEM CA bundle trusted for the API server's certificate; null for the system's CAs alone. */
  caCert: string | null;
  /** The name checked against the API server's certificate when it differs from the URL's host; null otherwise. */
  tlsServerName: string | null;
  /** PEM client certificate Warden presents (its key is the vaulted secret `clientKey`); null when a token is used. */
  clientCert: string | null;
  /**
   * When true, Warden's credential impersonates the caller upstream (`Impersonate-User`/`Impersonate-Group`), so the
   * cluster's own RBAC applies too.
   */
  impersonate: boolean;
}

/**
 * An HTTP API or web application (fields validated by the http protocol's target spec). Callers reach it at
 * `http://WARDEN:8081/t/<name>/...` or `http://<name>.<--http-domain>:8081/...`; Warden injects its vaulted
 * credential (`secret`) on every upstream request as `auth` says.
 */
export interface HttpTarget extends TargetCommon {
  type: 'http';
  /** The upstream's base URL (`https://billing.internal:8443`, possibly with a base path the request paths go under). */
  url: string;
  /** PEM CA bundle trusted for the upstream's certificate; null for the system's CAs alone. */
  caCert: string | null;
  /**
   * How the vaulted secret is sent: `none`, `bearer` (Authorization: Bearer SECRET), `basic` (the secret is
   * `user:password`), `header:NAME` (NAME: SECRET) or `query:NAME` (?NAME=SECRET).
   */
  auth: string;
  /** The Host header sent upstream when it must differ from the URL's host; null otherwise. */
  hostHeader: string | null;
  /** Static headers added to every upstream request (never a secret: use `auth` for that). */
  headers: Record<string, string>;
  /** PEM client certificate Warden presents upstream (mTLS; its key is the vaulted secret `clientKey`); null for none. */
  clientCert: string | null;
}

/** A backend Warden connects to, without its secret: one variant per protocol, told apart by `type`. */
export type Target = PostgresTarget | SshTarget | KubernetesTarget | HttpTarget;

/** PostgreSQL backend credentials from the vault; they never leave the upstream connection. */
export interface PostgresCredentials {
  user: string;
  password: string | null;
}

/** SSH backend credentials from the vault: a password, a private key (PEM/OpenSSH text) with its passphrase, or both. */
export interface SshCredentials {
  user: string;
  password: string | null;
  privateKey: string | null;
  passphrase: string | null;
}

/**
 * Kubernetes backend credentials from the vault: a bearer token, or the private key of the target's client
 * certificate. `user` and `password` exist for the shared shape only (always '' and null).
 */
export interface KubernetesCredentials {
  user: string;
  password: string | null;
  token: string | null;
  clientKey: string | null;
}

/**
 * HTTP backend credentials from the vault: the secret `auth` injects and the mTLS client key. `user` and `password`
 * exist for the shared shape only (always '' and null).
 */
export interface HttpCredentials {
  user: string;
  password: string | null;
  secret: string | null;
  clientKey: string | null;
}

/** Backend credentials from the vault; they never leave the upstream connection. */
export type Credentials = PostgresCredentials | SshCredentials | KubernetesCredentials | HttpCredentials;

/**
 * Verifies an SSH caller's public key (the engine has already checked the signature, so the caller holds the
 * private key) and maps it to the Subject it belongs to: a key registered to a user or service account, or a
 * certificate signed by Warden's user CA. Implemented in src/identity (ssh-keys.ts, ssh-ca.ts).
 */
export interface PublicKeyAuthenticator {
  /** The subject the key belongs to; throws a WardenError when the key is not accepted for `user`. */
  authenticate(user: string, algorithm: string, key: Buffer): Promise<Subject>;
}

/** A caller's request in protocol-neutral form. */
export interface Command {
  protocol: ProtocolName;
  /**
   * What sort of request it is, in the protocol's words: `sql`; for ssh `exec`, `shell` (opening an interactive
   * shell), `line` (a line typed in a shell), `subsystem`, `forward`. The protocol's analyser reads it.
   */
  kind: string;
  /** The command text exactly as the caller sent it (a statement, a shell command, a subsystem name). */
  text: string;
  /** Facts the engine knows without analysis (e.g. a forward's `host` and `port`); the analyser may use them. */
  attributes?: Record<string, string>;
  /**
   * Bound parameters as recorded (null for SQL NULL, `<binary n bytes>` for binary values, a prefix with length and
   * SHA-256 for long ones). Recorded only, never used to decide.
   */
  params?: RecordedParam[];
  /** What the pipeline decided for it (set by the pipeline, recorded with the outcome). */
  decision?: DecisionNote;
}

/** The part of a decision kept with a command's record: the rule, the classes, the approval that let it run. */
export interface DecisionNote {
  effect: 'allow' | 'deny' | 'require_approval';
  rule?: string;
  classes: string[];
  /** The approval request or grant that let a held statement run. */
  approval?: string;
}

/** What the pipeline decided for one command: run it, or refuse it with a message for the caller. */
export type Verdict =
  | { effect: 'allow'; note: DecisionNote }
  | { effect: 'deny'; message: string; note: DecisionNote };

/** Lets the pipeline talk to a caller while it holds a command (e.g. "waiting for approval"). */
export interface CommandContext {
  /** Sends the caller an informational notice in its protocol. */
  notify(message: string): void;
  /**
   * Set when the command is prepared here and executed later (a protocol-level Parse, a suspended portal resumed):
   * a rule that requires approval lets it through now (the note says require_approval) and the approval is asked
   * for at execution, with the bound values, where the command is judged again. A deny still refuses it now.
   */
  deferApproval?: boolean;
  /**
   * Set when the engine cannot hold the command while a human decides (an SSH agent or X11 request must be answered
   * before the channel's program starts): a rule that requires approval refuses it now, saying so.
   */
  cannotWait?: boolean;
}

/** How a command ended, reported by the engine once the upstream finished it. */
export interface CommandOutcome {
  durationMs: number;
  /** The command tag (`SELECT 3`, `INSERT 0 1`, ...), of the last statement when a query string held several. */
  tag?: string;
  /** Rows returned or affected, summed over the statements of a query string. */
  rows?: number;
  error?: { code: string; message: string };
  /** True when the command never ran (an earlier error in the same pipeline made the server skip it). */
  skipped?: boolean;
}
