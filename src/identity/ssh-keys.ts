/**
 * SSH public keys registered to a user or a service account (`warden ssh-keys add|list|rm`), and Warden's
 * PublicKeyAuthenticator: the SSH engine hands it the key a caller proved it holds, and gets back the same Subject
 * a token login of that principal would have, or a WardenError.
 * A registered key stands for its owner as the store knows them at login: a user's groups from their last sign-in
 * (users have no groups anywhere else), a service account's groups and target limits. Its subject's `tokenId` is
 * `sshkey:<key id>`, so the kill switch ends its sessions when the key is removed, and its sweep re-checks the key
 * and its owner every second (checkStanding); `expiresAt` is the key's expiry, or NEVER_EXPIRES_AT for a key
 * without one (such sessions end on removal, disabling or `sessions kill`, not by time).
 * Certificates are checked by ssh-ca.ts. This module must never store or accept a private key.
 */
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors.js';
import type { PublicKeyAuthenticator, Subject } from '../session/types.js';
import type { SshKeyOwnerKind, SshKeyRecord, Store } from '../store/types.js';
import type { SshCertificateAuthority } from './ssh-ca.js';
import { isCertificateAlgorithm, parsePublicKeyBlob, parsePublicKeyText } from './ssh-wire.js';

/** Prefix of the `tokenId` of a subject that logged in with a registered key. */
export const SSH_KEY_TOKEN_PREFIX = 'sshkey:';
/** The `expiresAt` of a key that never expires: 9999-12-31T23:59:59Z, finite so time arithmetic stays exact. */
export const NEVER_EXPIRES_AT = 253_402_300_799;

/** Who a key belongs to. */
export interface SshKeyOwner {
  kind: SshKeyOwnerKind;
  name: string;
}

/** What `add` needs. */
export interface AddSshKey {
  owner: SshKeyOwner;
  /** One line of a `.pub` file. */
  publicKey: string;
  name?: string;
  ttlSeconds?: number;
  /** Who adds it, for the record. */
  by?: string;
}

const rejected = (message: string) => new WardenError('WARDEN_ERR_SSH_KEY_REJECTED', message);
const disabled = (owner: SshKeyOwner) =>
  new WardenError('WARDEN_ERR_PRINCIPAL_DISABLED', `${owner.kind === 'user' ? 'user' : 'service account'} "${owner.name}" is disabled`);

/** Registered SSH keys: adding, listing and removing them, and logging in with one. */
export class SshKeys implements PublicKeyAuthenticator {
  constructor(private readonly deps: { store: Store; now?: () => number }) {}

  /**
   * Registers a public key to an owner that Warden knows (a service account, or a user who signed in at least once:
   * their groups come from that sign-in). WARDEN_ERR_BAD_REQUEST for a key Warden does not accept, _NOT_FOUND for an
   * unknown owner, _CONFLICT when the key is already registered (to anyone).
   */
  async add(req: AddSshKey): Promise<SshKeyRecord> {
    const key = parsePublicKeyText(req.publicKey);
    await this.ownerRecord(req.owner, 'add');
    if (req.ttlSeconds !== undefined && (!Number.isSafeInteger(req.ttlSeconds) || req.ttlSeconds <= 0)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'key lifetime must be positive');
    }
    const name = req.name ?? (key.comment.length > 0 ? key.comment.slice(0, 128) : null);
    const record: SshKeyRecord = {
      id: `sshk_${randomBytes(12).toString('base64url')}`, fingerprint: key.fingerprint, ownerKind: req.owner.kind,
      owner: req.owner.name, name, algorithm: key.algorithm, publicKey: key.line, createdAt: this.iso(),
      createdBy: req.by ?? null, lastUsedAt: null,
      expiresAt: req.ttlSeconds === undefined ? null : new Date(this.now() + req.ttlSeconds * 1000).toISOString(),
    };
    await this.deps.store.sshKeys.insert(record);
    return record;
  }

  /** A key by id; WARDEN_ERR_NOT_FOUND when unknown. */
  async get(id: string): Promise<SshKeyRecord> {
    const record = await this.deps.store.sshKeys.get(id);
    if (record === undefined) throw new WardenError('WARDEN_ERR_NOT_FOUND', `SSH key "${id.slice(0, 64)}" not found`);
    return record;
  }

  /**
   * Logs in `user` with a registered key (`algorithm` as the client named it: the key type, or rsa-sha2-256/512 for
   * RSA). WARDEN_ERR_SSH_KEY_REJECTED for a key not registered to `user` or expired, _PRINCIPAL_DISABLED for a
   * disabled owner.
   */
  async authenticate(user: string, algorithm: string, blob: Buffer): Promise<Subject> {
    if (isCertificateAlgorithm(algorithm)) throw rejected('a certificate is not a registered key');
    let key;
    try {
      key = parsePublicKeyBlob(blob);
    } catch (err) {
      throw rejected(`SSH key refused: ${err instanceof WardenError ? err.message : 'malformed key'}`);
    }
    const rsaVariant = key.algorithm === 'ssh-rsa' && (algorithm === 'rsa-sha2-256' || algorithm === 'rsa-sha2-512');
    if (algorithm !== key.algorithm && !rsaVariant) throw rejected(`algorithm ${algorithm} does not match the ${key.algorithm} key`);
    const record = await this.deps.store.sshKeys.byFingerprint(key.fingerprint);
    // One message for "unknown" and "someone else's": which keys exist is nobody's business.
    if (record === undefined || record.owner !== user || record.publicKey !== key.line) {
      throw rejected(`this SSH key (${key.fingerprint}) is not registered to "${user}"`);
    }
    const subject = await this.subjectOf(record);
    await this.deps.store.sshKeys.touch(record.id, this.iso());
    return subject;
  }

  /**
   * The kill switch's per-second check of a live session opened with a registered key: the key still exists and has
   * not expired, and its owner exists and is not disabled. Throws the same errors as `authenticate`.
   */
  async checkStanding(subject: Subject): Promise<void> {
    const id = subject.tokenId.startsWith(SSH_KEY_TOKEN_PREFIX) ? subject.tokenId.slice(SSH_KEY_TOKEN_PREFIX.length) : '';
    const record = id === '' ? undefined : await this.deps.store.sshKeys.get(id);
    if (record === undefined || record.owner !== subject.id) throw rejected('the SSH key of this session was removed');
    await this.subjectOf(record);
  }

  /** The subject a key stands for, from its owner's stored record. */
  private async subjectOf(record: SshKeyRecord): Promise<Subject> {
    if (record.expiresAt !== null && Date.parse(record.expiresAt) <= this.now()) {
      throw rejected(`this SSH key (${record.fingerprint}) expired at ${record.expiresAt}`);
    }
    const owner: SshKeyOwner = { kind: record.ownerKind, name: record.owner };
    const expiresAt = record.expiresAt === null ? NEVER_EXPIRES_AT : Math.floor(Date.parse(record.expiresAt) / 1000);
    const base = { id: record.owner, chain: [], tokenId: `${SSH_KEY_TOKEN_PREFIX}${record.id}`, expiresAt };
    if (owner.kind === 'user') {
      const user = await this.deps.store.users.get(owner.name);
      if (user === undefined) throw rejected(`user "${owner.name}" is unknown to Warden`);
      if (user.disabledAt !== null) throw disabled(owner);
      return { ...base, kind: 'user', groups: [...user.groups], targets: ['*'] };
    }
    const account = await this.deps.store.serviceAccounts.get(owner.name);
    if (account === undefined) throw rejected(`service account "${owner.name}" no longer exists`);
    if (account.disabledAt !== null) throw disabled(owner);
    return { ...base, kind: account.kind, groups: [...account.groups], targets: [...account.targets] };
  }

  /** The owner's record; WARDEN_ERR_NOT_FOUND when Warden does not know it. */
  private async ownerRecord(owner: SshKeyOwner, action: string): Promise<void> {
    if (owner.kind === 'service') {
      if ((await this.deps.store.serviceAccounts.get(owner.name)) === undefined) {
        throw new WardenError('WARDEN_ERR_NOT_FOUND', `service account "${owner.name}" not found`);
      }
      return;
    }
    if ((await this.deps.store.users.get(owner.name)) === undefined) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `cannot ${action} a key for user "${owner.name}": Warden does not know them `
        + 'yet (a user\'s groups come from their sign-in: let them sign in once with `warden login`)');
    }
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

/**
 * The authenticator the SSH engine gets: certificates go to Warden's CA, every other key to the registered keys.
 */
export class SshPublicKeys implements PublicKeyAuthenticator {
  constructor(private readonly keys: SshKeys, private readonly ca: SshCertificateAuthority) {}

  authenticate(user: string, algorithm: string, key: Buffer): Promise<Subject> {
    return isCertificateAlgorithm(algorithm) ? this.ca.authenticate(user, algorithm, key) : this.keys.authenticate(user, algorithm, key);
  }
}
