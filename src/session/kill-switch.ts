/**
 * The kill switch: revocation that reaches live sessions. Revoking a token (and every token delegated from it),
 * disabling a user or a service account, or killing one session refuses new sessions at once (the store is written
 * first, and every login checks it) and ends the live sessions concerned in this process straight away, with a
 * clear message to the caller in its protocol and a `session.terminated` event in the recording.
 * A sweep re-checks every live session against the store once a second, so a revocation made through another
 * replica (or straight in the database) ends sessions here within a second too.
 * With `letStatementsFinish`, sessions refuse new statements and end once the running one has finished (bounded
 * by a grace period), for operators who prefer not to cut a migration in half.
 * Sessions opened with a registered SSH key (`tokenId` `sshkey:<id>`) are checked by the key service instead of the
 * token service; without one wired in, the sweep's token check refuses them (fail closed).
 * The same sweep ends sessions whose token has expired (a token's life bounds the sessions opened with it), after
 * a notice to the caller a minute before, unless a policy rule lets that subject's sessions outlive the token.
 */
import type { Logger } from 'pino';
import { WardenError } from '../errors.js';
import type { TokenService } from '../identity/tokens.js';
import type { Store } from '../store/types.js';
import type { LiveSession, SessionRegistry, TerminateOptions } from './registry.js';
import { EXPIRY_NOTICE_MS, TOKEN_EXPIRED_REASON, TokenExpiry, expiryNotice } from './token-expiry.js';
import type { Actor, Subject } from './types.js';

/** How a revocation treats statements that are running. */
export interface RevocationOptions {
  /** Let running statements finish (new ones are refused) before the session ends; default false. */
  letStatementsFinish?: boolean;
  /** Who asked, for the recording. */
  by?: string;
}

/** What a revocation did to live sessions. */
export interface RevocationResult {
  /** Ids of the live sessions that were (or are being) ended. */
  sessions: string[];
}

/** Most a session may run on after a graceful revocation, waiting for its running statement. */
export const DEFAULT_GRACE_MS = 30_000;
/** How often live sessions are re-checked against the store. */
export const SWEEP_INTERVAL_MS = 1000;


/** What the kill switch needs of the registered SSH keys (src/identity/ssh-keys.ts). */
export interface SshKeyStanding {
  /** Throws an `unauthenticated` WardenError when a session opened with a registered key may no longer run. */
  checkStanding(subject: Subject): Promise<void>;
}

/** Prefix of the `tokenId` of sessions opened with a registered SSH key (SSH_KEY_TOKEN_PREFIX of ssh-keys.ts). */
const SSH_KEY_SESSION_PREFIX = 'sshkey:';

/** Ends live sessions when the store says their caller may no longer be here. */
export class KillSwitch {
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private defaultExpiry: TokenExpiry | undefined;

  constructor(private readonly deps: {
    registry: SessionRegistry;
    tokens: TokenService;
    store: Store;
    /** Records an event in a session's recording. */
    record: (live: LiveSession, type: string, data: Record<string, unknown>) => void;
    logger: Logger;
    graceMs?: number;
    /** Token-expiry rules (shared with the pipeline); without it no session may outlive its token. */
    expiry?: TokenExpiry;
    /** Registered SSH keys: their sessions' standing check and removal. */
    sshKeys?: SshKeyStanding;
  }) {}

  /** Starts the once-a-second sweep. */
  start(): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch((err: unknown) => this.deps.logger.error({ err }, 'kill switch sweep failed'));
    }, SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the sweep. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Revokes a token by id or text with everything delegated from it, and ends their live sessions. */
  async revokeToken(idOrToken: string, options: RevocationOptions = {}) {
    const record = await this.deps.tokens.revoke(idOrToken);
    const ids = new Set(record.revokedIds);
    const reason = ids.size > 1 ? 'Warden token revoked (with the tokens delegated from it)' : 'Warden token revoked';
    return { record, ...this.end((s) => ids.has(s.tokenId), reason, options) };
  }

  /**
   * Revokes an API key, every token traded for it (and everything delegated from those), and ends their live
   * sessions. WARDEN_ERR_NOT_FOUND when the key is unknown.
   */
  async revokeApiKey(keyId: string, options: RevocationOptions = {}) {
    const at = new Date().toISOString();
    if (!(await this.deps.store.serviceAccounts.revokeKey(keyId, at))) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `API key "${keyId}" not found`);
    }
    const ids = new Set<string>();
    for (const token of await this.deps.store.tokens.fromApiKey(keyId)) {
      for (const id of await this.deps.tokens.revokeTree(token.id)) ids.add(id);
    }
    const key = (await this.deps.store.serviceAccounts.getKey(keyId))!;
    return { key, revokedTokens: [...ids], ...this.end((s) => ids.has(s.tokenId), 'the API key this token came from was revoked', options) };
  }

  /** Disables a user (or enables one again) and ends the live sessions it opened or that act for it. */
  async setUserDisabled(name: string, disabled: boolean, options: RevocationOptions = {}) {
    const at = new Date().toISOString();
    const user = await this.deps.store.users.setDisabled(name, disabled ? at : null, at);
    if (!disabled) return { user, sessions: [] };
    return { user, ...this.end((s) => involves(s, name, (k) => k === 'user'), `user "${name}" was disabled`, options) };
  }

  /** Disables a service account (or enables it) and ends the live sessions it opened or that act for it. */
  async setServiceAccountDisabled(name: string, disabled: boolean, options: RevocationOptions = {}) {
    const at = new Date().toISOString();
    const account = await this.deps.store.serviceAccounts.setDisabled(name, disabled ? at : null, at);
    if (!account) throw new WardenError('WARDEN_ERR_NOT_FOUND', `service account "${name}" not found`);
    if (!disabled) return { account, sessions: [] };
    return { account, ...this.end((s) => involves(s, name, (k) => k !== 'user'), `service account "${name}" was disabled`, options) };
  }

  /**
   * Removes a registered SSH key and ends the live sessions opened with it. WARDEN_ERR_NOT_FOUND when unknown.
   * Sessions opened with a certificate are not keyed to an SSH key: they end with their token.
   */
  async removeSshKey(id: string, options: RevocationOptions = {}): Promise<RevocationResult> {
    if (!(await this.deps.store.sshKeys.remove(id))) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `SSH key "${id.slice(0, 64)}" not found`);
    }
    const tokenId = `${SSH_KEY_SESSION_PREFIX}${id}`;
    return this.end((s) => s.tokenId === tokenId, 'the SSH key this session was opened with was removed', options);
  }

  /** Ends one live session; WARDEN_ERR_NOT_FOUND when no live session has that id here. */
  killSession(id: string, options: RevocationOptions = {}): RevocationResult {
    const result = this.end((_s, live) => live.session.id === id, 'session killed by an administrator', options);
    if (result.sessions.length === 0) throw new WardenError('WARDEN_ERR_NOT_FOUND', `no live session ${id}`);
    return result;
  }

  /** Re-checks every live session against the store; ends the ones whose caller may no longer be here. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const live of this.deps.registry.list()) {
        if (live.ending || this.endIfExpired(live)) continue;
        try {
          const subject = live.session.subject;
          if (this.deps.sshKeys !== undefined && subject.tokenId.startsWith(SSH_KEY_SESSION_PREFIX)) {
            await this.deps.sshKeys.checkStanding(subject);
          } else {
            await this.deps.tokens.checkStanding(subject);
          }
        } catch (err) {
          if (!(err instanceof WardenError) || err.kind !== 'unauthenticated') continue; // a store outage is not a revocation
          this.terminate(live, err.message, {});
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Ends a session whose token has expired (recorded as `session.terminated` with TOKEN_EXPIRED_REASON), or warns
   * its caller once when the end is less than EXPIRY_NOTICE_MS away. Returns true when it ended the session.
   * A policy check that throws counts as "may not outlive": fail closed.
   */
  private endIfExpired(live: LiveSession): boolean {
    const expiry = this.deps.expiry ?? (this.defaultExpiry ??= new TokenExpiry(() => []));
    const left = expiry.msLeft(live.session);
    if (left > EXPIRY_NOTICE_MS) return false;
    let outlive = false;
    try {
      outlive = expiry.mayOutlive(live.session);
    } catch (err) {
      this.deps.logger.warn({ err, session: live.session.id }, 'could not check whether a session may outlive its token');
    }
    if (outlive) return false;
    if (left <= 0) {
      this.terminate(live, TOKEN_EXPIRED_REASON, {});
      return true;
    }
    if (live.notify !== undefined && expiry.firstWarning(live.session)) {
      try {
        live.notify(expiryNotice(left));
      } catch (err) {
        this.deps.logger.warn({ err, session: live.session.id }, 'could not warn a caller that its token expires');
      }
    }
    return false;
  }

  private end(match: (s: Subject, live: LiveSession) => boolean, reason: string, options: RevocationOptions): RevocationResult {
    const sessions: string[] = [];
    for (const live of this.deps.registry.list()) {
      if (!match(live.session.subject, live)) continue;
      sessions.push(live.session.id);
      this.terminate(live, reason, options);
    }
    return { sessions };
  }

  private terminate(live: LiveSession, reason: string, options: RevocationOptions): void {
    if (live.ending) return;
    const terminate: TerminateOptions = options.letStatementsFinish
      ? { letStatementsFinish: true, graceMs: this.deps.graceMs ?? DEFAULT_GRACE_MS } : {};
    this.deps.record(live, 'session.terminated', { reason, ...(options.by ? { by: options.by } : {}),
      letStatementsFinish: options.letStatementsFinish === true });
    this.deps.logger.info({ session: live.session.id, reason }, 'ending a live session');
    live.terminate(reason, terminate).catch((err: unknown) =>
      this.deps.logger.warn({ err, session: live.session.id }, 'could not end a live session'));
  }
}

/** True when `name` (of a kind `kindOk` accepts) is the caller or any link of its chain. */
function involves(subject: Subject, name: string, kindOk: (kind: Actor['kind']) => boolean): boolean {
  return (subject.id === name && kindOk(subject.kind)) || subject.chain.some((a) => a.id === name && kindOk(a.kind));
}
