/**
 * The contract of the SSH known-hosts repository (trust on first use for SSH targets without a pinned key).
 * Types only.
 */

/** A host key Warden recorded the first time it met an SSH server. */
export interface SshHostKeyRecord {
  /** `host:port` as the target names them (lower-cased host). */
  endpoint: string;
  /** `SHA256:...` of the key blob. */
  fingerprint: string;
  /** `ssh-ed25519 AAAA...`. */
  publicKey: string;
  /** The target through which it was first seen (for messages). */
  target: string;
  firstSeenAt: string;
}

/** Known SSH host keys. */
export interface SshHostKeyRepository {
  get(endpoint: string): Promise<SshHostKeyRecord | undefined>;
  /**
   * Records `record` unless a key is already known for its endpoint; returns the key in force (the one recorded
   * first, whichever writer won), so two sessions racing on a first connection agree on one key.
   */
  recordIfAbsent(record: SshHostKeyRecord): Promise<SshHostKeyRecord>;
  /** Forgets an endpoint's key (an operator replaced the server); false when none was known. */
  remove(endpoint: string): Promise<boolean>;
}
