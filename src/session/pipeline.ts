/**
 * The shared session pipeline: the one place that decides whether a session may open and whether a command may
 * run, and that records what happened. Engines call it; it never touches protocol bytes and never imports a
 * protocol: the target's protocol definition (from the ProtocolRegistry it is given) analyses each command. It fails
 * closed: when it cannot decide (store down, token unverifiable, a command it cannot parse), the answer is no.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/service.js';
import { WardenError, toWardenError } from '../errors.js';
import type { TokenService } from '../identity/tokens.js';
import { evaluate, maskRulesFor, mayAccess, sessionIdleTimeout } from '../policy/evaluate.js';
import type { MaskItem } from '../policy/schema.js';
import { anyGlobMatch } from '../policy/glob.js';
import type { Decision } from '../policy/types.js';
import type { Recorder } from '../recording/recorder.js';
import { recordingRedactor } from '../recording/redact.js';
import type { Store } from '../store/types.js';
import type { Vault } from '../vault/vault.js';
import { requestApproval } from './approval-wait.js';
import type { PolicyCatalog } from './policy-catalog.js';
import type { OpenRequest, Session } from './session.js';
import type { ProtocolDefinition } from './protocol.js';
import type { ProtocolRegistry } from './protocol-registry.js';
import { SessionState } from './session-state.js';
import { TokenExpiry } from './token-expiry.js';
import type {
  Command, CommandContext, CommandOutcome, Credentials, PublicKeyAuthenticator, Subject, Target, Verdict,
} from './types.js';

/** What an engine applies to a session's results (see SessionPipeline.masking). */
export interface ResultMasking {
  /** The masking rules in force for the session, in order, each with its `policy/rule` name. */
  rules: Array<{ rule: string; items: MaskItem[] }>;
  /** The key of the deterministic hash strategy. */
  hashKey: Buffer;
  /** The content-based items (detectors, patterns) of every rule, for engines whose results are byte streams. */
  contentItems: MaskItem[];
}

/** What the pipeline needs from the rest of Warden. */
export interface PipelineDeps {
  store: Store;
  tokens: TokenService;
  vault: Vault;
  recorder: Recorder;
  policies: PolicyCatalog;
  approvals: ApprovalService;
  /** What happens to a statement no policy rule matches. */
  defaultEffect: 'allow' | 'deny';
  logger: Logger;
  /** The protocols sessions may use: each analyses its commands and gives its policy match keys their meaning. */
  protocols: ProtocolRegistry;
  /** Maps an SSH caller's public key (or Warden-signed certificate) to a Subject; absent: public keys are refused. */
  publicKeys?: PublicKeyAuthenticator;
}

/** Decides and records for every engine. */
export class SessionPipeline {
  private readonly states = new WeakMap<Session, SessionState>();
  /** Token expiry of live sessions (the kill switch ends expired ones; this refuses statements in between). */
  readonly expiry: TokenExpiry;
  private maskKey: Buffer | undefined;

  constructor(private readonly deps: PipelineDeps) {
    this.expiry = new TokenExpiry(() => deps.policies.current(), Date.now, deps.protocols);
  }

  /**
   * Authenticates the caller, resolves the target and checks access, then records the session start. A refusal is
   * recorded too (as a session that ended at once), then thrown as a WardenError for the engine to render.
   */
  async open(req: OpenRequest): Promise<Session> {
    let subject: Subject | undefined;
    try {
      const verified = await this.authenticate(req);
      subject = verified;
      const protocol = this.deps.protocols.get(req.protocol);
      const record = protocol === undefined ? undefined : await this.deps.store.targets.get(req.targetName);
      if (!protocol || !record || record.type !== req.protocol) {
        throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${req.targetName}" does not exist`);
      }
      if (!anyGlobMatch(verified.targets, record.name)) {
        throw new WardenError('WARDEN_ERR_ACCESS_DENIED', `user "${verified.id}" may not use target "${record.name}"`);
      }
      const target = this.deps.protocols.target(record);
      const accessGranted = await this.checkPolicyAccess(verified, target, protocol);
      const session = newSession(req, verified, target);
      session.idleTimeoutMs = effectiveIdleTimeout(sessionIdleTimeout(this.deps.policies.current(), verified, target, protocol),
        req.idleTimeoutMs);
      await this.deps.store.sessions.insert(sessionRow(session, null, null));
      this.states.set(session, new SessionState(protocol, accessGranted));
      // Literals and parameters the caller sends are redacted in the recording by the same rules as masking.
      this.deps.recorder.begin(session.id, recordingRedactor(maskRulesFor(this.deps.policies.current(), verified, target)));
      this.deps.recorder.append(session.id, 'session.start', { clientAddress: req.clientAddress, database: session.database,
        ...(accessGranted ? { access: 'granted by an approved access request' } : {}),
        ...(session.idleTimeoutMs > 0 ? { idleTimeoutSeconds: Math.ceil(session.idleTimeoutMs / 1000) } : {}) });
      return session;
    } catch (err) {
      const error = toWardenError(err);
      await this.recordRefusal(req, subject, error);
      throw error;
    }
  }

  /**
   * Who the caller is: a Warden token verified by the token service, or a public key the engine saw the caller hold,
   * mapped by the PublicKeyAuthenticator. Either way the subject must be the user the caller named.
   */
  private async authenticate(req: OpenRequest): Promise<Subject> {
    const { credential } = req;
    let subject: Subject;
    if (credential.kind === 'token') subject = await this.deps.tokens.verify(credential.token);
    else if (credential.kind === 'publicKey') {
      if (this.deps.publicKeys === undefined) {
        throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'public key authentication is not enabled on this Warden: '
          + 'use a Warden token as the password');
      }
      subject = await this.deps.publicKeys.authenticate(req.user, credential.algorithm, credential.key);
    } else throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'unsupported credential');
    if (req.user !== subject.id) {
      const what = credential.kind === 'token' ? 'the Warden token was' : 'the public key is';
      throw new WardenError('WARDEN_ERR_TOKEN_INVALID', `${what} not issued to user "${req.user}"`);
    }
    return subject;
  }

  /** True when callers may authenticate with a public key (a PublicKeyAuthenticator is configured). */
  get acceptsPublicKeys(): boolean {
    return this.deps.publicKeys !== undefined;
  }

  /**
   * The backend credentials of a session's target, decrypted just before the upstream login and never kept: the
   * password and each of the protocol's other secrets (null when absent).
   */
  async credentials(session: Session): Promise<Credentials> {
    const record = await this.deps.store.targets.get(session.target.name);
    if (!record || record.type !== session.target.type) {
      throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${session.target.name}" was removed`);
    }
    const context = `target:${record.name}`;
    const decrypt = (enc: string | null | undefined) => (enc === null || enc === undefined ? null : this.deps.vault.decrypt(enc, context));
    const credentials: Record<string, string | null> = { user: 'user' in record ? record.user : '', password: decrypt(record.passwordEnc) };
    for (const field of this.deps.protocols.require(record.type).secretFields) {
      // Other secrets are bound to their own vault context, so one ciphertext can never be replayed as another.
      credentials[field] = record.secretsEnc?.[field] === undefined ? null
        : this.deps.vault.decrypt(record.secretsEnc[field], `${context}:${field}`);
    }
    return credentials as unknown as Credentials;
  }

  /**
   * Decides whether a command may run. Synchronous when the answer is immediate (the common case costs no extra
   * tick); a promise when the command waits for a human's approval.
   */
  onCommand(session: Session, command: Command, context: CommandContext): Verdict | Promise<Verdict> {
    const state = this.state(session);
    if (state.draining !== undefined) {
      return this.deny(session, command, { effect: 'deny', classes: [], message: `the session is ending: ${state.draining}` });
    }
    const expired = this.expiry.check(session, context);
    if (expired !== undefined) return this.deny(session, command, expired);
    const { protocol } = state;
    if (command.protocol !== protocol.name) {
      return this.deny(session, command, { effect: 'deny', classes: ['unknown'],
        message: `this session speaks ${protocol.name}, not ${command.protocol}` });
    }
    const analysis = protocol.analyse(command, state.analysis);
    const narrowed = this.outsideTokenClasses(session.subject, analysis.classes, protocol.unitsNoun ?? 'commands');
    if (narrowed !== undefined) return this.deny(session, command, narrowed);
    const decision = evaluate(this.deps.policies.current(), { subject: session.subject, target: session.target, analysis, protocol },
      { defaultEffect: this.deps.defaultEffect, accessGranted: state.accessGranted });
    const note = { effect: decision.effect, rule: decision.rule, classes: decision.classes };
    if (decision.effect === 'allow') {
      state.analysis?.remember(analysis, command);
      return { effect: 'allow', note };
    }
    if (decision.effect === 'deny') return this.deny(session, command, decision);
    // Judged again, and approval asked for with the values, when it runs.
    if (context.deferApproval) return { effect: 'allow', note };
    if (context.cannotWait) {
      return this.deny(session, command, { ...decision, effect: 'deny',
        message: `${decision.rule ?? 'a policy rule'} requires approval, and this request cannot wait for one` });
    }
    return requestApproval({ approvals: this.deps.approvals, recorder: this.deps.recorder, logger: this.deps.logger },
      session, state, command, decision, context).then((verdict) => {
      if (verdict.effect === 'allow') state.analysis?.remember(analysis, command);
      return verdict;
    });
  }

  /**
   * The caller cancelled a command held for approval: its approval request is withdrawn (recorded as cancelled by
   * the caller), or, when it is not created yet, withdrawn as soon as it is. Never rejects.
   */
  async withdraw(session: Session, reason: string): Promise<void> {
    const state = this.states.get(session);
    if (!state) return;
    state.withdrawn = reason;
    const pending = state.pendingApproval;
    if (pending === undefined) return;
    try {
      await this.deps.approvals.cancel(pending, reason);
    } catch (err) {
      this.deps.logger.error({ err, session: session.id, request: pending }, 'could not withdraw an approval request');
    }
  }

  /** Refuses every further command of a session that Warden is ending (a graceful revocation). */
  drain(session: Session, reason: string): void {
    const state = this.states.get(session);
    if (state) state.draining = reason;
  }

  /** A delegated token narrowed to some statement classes refuses the others, whatever the policies say. */
  private outsideTokenClasses(subject: Subject, classes: readonly string[], noun: string): Decision | undefined {
    if (subject.classes === undefined) return undefined;
    const outside = classes.filter((c) => !subject.classes!.includes(c));
    if (outside.length === 0) return undefined;
    return { effect: 'deny', classes: [...classes], rule: undefined,
      message: `this token may only run ${subject.classes.join(', ') || 'no'} ${noun} (this one is ${outside.join(', ')})` };
  }

  /**
   * The result hook: what an engine must apply to a session's results before they reach the caller, whatever the
   * protocol. `rules` are the masking rules in force for the session, in order (empty: results pass through
   * untouched); a tabular engine (PostgreSQL) applies their columns, types, detectors and patterns; a byte-stream
   * engine (terminal output, file reads) applies `contentItems`, the detectors and patterns of every rule, and must
   * refuse or hold what it cannot inspect. `hashKey` keys the deterministic hash strategy. Read when the session
   * starts relaying; a policy change applies to sessions opened afterwards.
   */
  masking(session: Session): ResultMasking {
    this.maskKey ??= this.deps.vault.deriveKey('masking-hash');
    const rules = maskRulesFor(this.deps.policies.current(), session.subject, session.target);
    const contentItems = rules.flatMap((r) => r.items)
      .filter((item) => item.detectors !== undefined || item.patterns !== undefined)
      .map(({ detectors, patterns, strategy }) => ({ ...(detectors ? { detectors } : {}), ...(patterns ? { patterns } : {}), strategy }));
    return { rules, hashKey: this.maskKey, contentItems };
  }

  /**
   * Records how a command ended. `command` is what the caller sent; it holds no Warden secret. The text goes whole
   * to the recorder, whose redactor redacts it and only then cuts a long one (recording/redact.ts).
   */
  onOutcome(session: Session, command: Command, outcome: CommandOutcome): void {
    // Some commands change how later ones are judged only once the server says they ran (SQL: PREPARE).
    this.states.get(session)?.analysis?.settle?.(command, outcome);
    this.deps.recorder.append(session.id, 'statement', {
      text: command.text,
      ...(command.params && command.params.length > 0 ? { params: command.params } : {}),
      ...(command.decision ? { decision: command.decision } : {}),
      ...outcome,
    });
  }

  /** Records a session event that is not a command (e.g. an upstream notice of shutdown); returns its seq, if stored. */
    onEvent(session: Session, type: string, data: Record<string, unknown>): number | undefined {
    return this.deps.recorder.append(session.id, type, data);
  }

  /** Ends a session in the recording and the store; a pending approval is cancelled. Never throws. */
  async close(session: Session, reason: string): Promise<void> {
    const pending = this.states.get(session)?.pendingApproval;
    if (pending) await this.deps.approvals.cancel(pending, `session ended: ${reason}`).catch(() => {});
    this.deps.recorder.append(session.id, 'session.end', { reason });
    this.deps.recorder.end(session.id);
    const at = new Date().toISOString();
    try {
      await this.deps.store.sessions.end(session.id, at, reason);
    } catch (err) {
      // The session must not stay `active` forever: the recorder writes the end once the store is back.
      this.deps.logger.error({ err, session: session.id }, 'could not record the end of a session yet; will retry');
      this.deps.recorder.deferEnd(session.id, at, reason);
    }
  }

  private state(session: Session): SessionState {
    const state = this.states.get(session);
    // A session the pipeline did not open has no state: refuse rather than judge without it.
    if (!state) throw new WardenError('WARDEN_ERR_INTERNAL', 'session state missing', { public: false });
    return state;
  }

  /** With a deny default, a caller no rule could ever let in is refused at login, unless an access grant lets it. */
  private async checkPolicyAccess(subject: Subject, target: Target, protocol: ProtocolDefinition): Promise<boolean> {
    if (this.deps.defaultEffect === 'allow' || mayAccess(this.deps.policies.current(), subject, target, protocol)) return false;
    if (await this.deps.approvals.hasAccess(subject, target.name)) return true;
    throw new WardenError('WARDEN_ERR_ACCESS_DENIED', `no policy gives user "${subject.id}" access to target `
      + `"${target.name}"; ask for it with: warden access request --target ${target.name} --duration 1h --reason "..."`);
  }

  private deny(session: Session, command: Command, decision: Decision): Verdict {
    const message = decision.message ?? 'denied by policy';
    this.deps.recorder.append(session.id, 'statement.denied', { text: command.text,
      ...(command.params && command.params.length > 0 ? { params: command.params } : {}),
      rule: decision.rule ?? null, classes: decision.classes, message });
    return { effect: 'deny', message, note: { effect: 'deny', rule: decision.rule, classes: decision.classes } };
  }

  private async recordRefusal(req: OpenRequest, subject: Subject | undefined, error: WardenError): Promise<void> {
    const log = { code: error.code, user: req.user, target: req.targetName, client: req.clientAddress, detail: error.detail };
    this.deps.logger.warn(log, `session refused: ${error.message}`);
    if (error.code === 'WARDEN_ERR_STORE_UNAVAILABLE') return;
    // Only the name and type of a refused session's target are recorded; the rest is never read.
    const placeholder = { name: req.targetName, type: req.protocol, labels: {} } as unknown as Target;
    const refused = newSession(req, subject ?? unauthenticated(req.user), placeholder);
    try {
      await this.deps.store.sessions.insert(sessionRow(refused, refused.startedAt, `refused: ${error.code}: ${error.callerMessage}`));
    } catch (err) {
      this.deps.logger.error({ err }, 'could not record a refused session');
    }
  }
}

/**
 * A session's idle timeout in milliseconds (0: none): the policies' (seconds) and the engine's own, whichever is
 * smaller; either alone when the other is absent.
 */
export function effectiveIdleTimeout(policySeconds: number | undefined, engineMs: number | undefined): number {
  const limits = [policySeconds === undefined ? 0 : policySeconds * 1000, engineMs ?? 0].filter((ms) => ms > 0);
  return limits.length === 0 ? 0 : Math.min(...limits);
}

function unauthenticated(user: string): Subject {
  return { id: user, kind: 'user', groups: [], chain: [], tokenId: '', targets: [], expiresAt: 0 };
}

function newSession(req: OpenRequest, subject: Subject, target: Target): Session {
  return {
    id: `ses_${randomUUID()}`, protocol: req.protocol, subject, target, applicationName: req.applicationName,
    database: req.database ?? defaultDatabase(target), clientAddress: req.clientAddress, startedAt: Date.now(),
  };
}

/** The target's own database (or equivalent) when its protocol has one, else empty. */
function defaultDatabase(target: Target): string {
  return 'database' in target && typeof target.database === 'string' ? target.database : '';
}

function sessionRow(s: Session, endedAt: number | null, endReason: string | null) {
  return {
    id: s.id, protocol: s.protocol, subject: s.subject.id, subjectKind: s.subject.kind, groups: s.subject.groups,
    chain: s.subject.chain, tokenId: s.subject.tokenId, target: s.target.name, database: s.database,
    clientAddress: s.clientAddress, startedAt: new Date(s.startedAt).toISOString(),
    endedAt: endedAt === null ? null : new Date(endedAt).toISOString(), endReason,
  };
}
