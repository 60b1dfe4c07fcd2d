/**
 * The store's contract for registered SSH public keys. Types only; types.ts re-exports them so callers keep one
 * import path. Timestamps are ISO-8601 strings in UTC.
 */

/** Who a registered key belongs to: a user (person) or a service account (a service or an agent). */
export type SshKeyOwnerKind = 'user' | 'service';

/** An SSH public key registered to one owner. Only the public half is ever stored. */
export interface SshKeyRecord {
  id: string;
  /** `SHA256:<base64 without padding>` of the key blob, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  ownerKind: SshKeyOwnerKind;
  owner: string;
  /** A label chosen by whoever added it (e.g. "laptop"), null when none. */
  name: string | null;
  /** The key type, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  algorithm: string;
  /** `<algorithm> <base64 blob>`, without a comment. */
  publicKey: string;
  createdAt: string;
  /** Who added it (the caller's name), null when unknown. */
  createdBy: string | null;
  /** When it stops working; null for never. */
  expiresAt: string | null;
  lastUsedAt: string | null;
}

/** Registered SSH keys. */
export interface SshKeyRepository {
  /** Inserts a key; WARDEN_ERR_CONFLICT when its fingerprint is already registered (to anyone). */
  insert(key: SshKeyRecord): Promise<void>;
  get(id: string): Promise<SshKeyRecord | undefined>;
  byFingerprint(fingerprint: string): Promise<SshKeyRecord | undefined>;
  /** Every key, or one owner's, oldest first. */
  list(owner?: { kind: SshKeyOwnerKind; name: string }): Promise<SshKeyRecord[]>;
  /** Marks a key used now. */
  touch(id: string, at: string): Promise<void>;
  /** Deletes a key; false when there was none. */
  remove(id: string): Promise<boolean>;
}
