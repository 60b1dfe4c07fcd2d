/**
 * The shared session pipeline: the one place that decides whether a session may open and whether a command may
 * run, and that records what happened. Engines call it; it never touches protocol bytes. It fails closed: when it
 * cannot decide (store down, token unverifiable), the answer is no.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../errors.js';
import { anyGlobMatch } from '../policy/glob.js';
import type { Recorder } from '../recording/recorder.js';
import type { Store, TargetRecord } from '../store/types.js';
import type { Vault } from '../vault/vault.js';
import type { TokenService } from '../identity/tokens.js';
import type { OpenRequest, Session } from './session.js';
import type { Command, CommandOutcome, Credentials, Subject, Target, Verdict } from './types.js';

/** What the pipeline needs from the rest of Warden. */
export interface PipelineDeps {
  store: Store;
  tokens: TokenService;
  vault: Vault;
  recorder: Recorder;
  logger: Logger;
}

const ALLOW: Verdict = { effect: 'allow' };

/** Decides and records for every engine. */
export class SessionPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /**
   * Authenticates the caller, resolves the target and checks access, then records the session start. A refusal is
   * recorded too (as a session that ended at once), then thrown as a WardenError for the engine to render.
   */
  async open(req: OpenRequest): Promise<Session> {
    let subject: Subject | undefined;
    try {
      const verified = await this.deps.tokens.verify(req.token);
      subject = verified;
      if (req.user !== verified.id) {
        throw new WardenError('WARDEN_ERR_TOKEN_INVALID', `the Warden token was not issued to user "${req.user}"`);
      }
      const record = await this.deps.store.targets.get(req.targetName);
      if (!record || record.type !== req.protocol) {
        throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${req.targetName}" does not exist`);
      }
      if (!anyGlobMatch(verified.targets, record.name)) {
        throw new WardenError('WARDEN_ERR_ACCESS_DENIED', `user "${verified.id}" may not use target "${record.name}"`);
      }
      const session = newSession(req, verified, toTarget(record));
      await this.deps.store.sessions.insert(sessionRow(session, null, null));
      this.deps.recorder.begin(session.id);
      this.deps.recorder.append(session.id, 'session.start', { clientAddress: req.clientAddress, database: session.database });
      return session;
    } catch (err) {
      const error = toWardenError(err);
      await this.recordRefusal(req, subject, error);
      throw error;
    }
  }

  /** The backend credentials of a session's target, decrypted just before the upstream login and never kept. */
  async credentials(session: Session): Promise<Credentials> {
    const record = await this.deps.store.targets.get(session.target.name);
    if (!record) throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${session.target.name}" was removed`);
    const password = record.passwordEnc === null ? null : this.deps.vault.decrypt(record.passwordEnc, `target:${record.name}`);
    return { user: record.user, password };
  }

  /** Decides whether a command may run. Synchronous so that the common case costs no extra tick. */
  onCommand(_session: Session, _command: Command): Verdict {
    // Policies arrive with the guardrails issue; until then every authenticated, target-scoped session may run
    // its statements, and every one of them is recorded by onOutcome.
    return ALLOW;
  }

  /** Records how a command ended. `command` is what the caller sent; it holds no Warden secret. */
  onOutcome(session: Session, command: Command, outcome: CommandOutcome): void {
    this.deps.recorder.append(session.id, 'statement', {
      text: command.text,
      ...(command.params && command.params.length > 0 ? { params: command.params } : {}),
      ...outcome,
    });
  }

  /** Records a session event that is not a command (e.g. an upstream notice of shutdown). */
  onEvent(session: Session, type: string, data: Record<string, unknown>): void {
    this.deps.recorder.append(session.id, type, data);
  }

  /** Ends a session in the recording and the store. Never throws: a failing store is logged. */
  async close(session: Session, reason: string): Promise<void> {
    this.deps.recorder.append(session.id, 'session.end', { reason });
    this.deps.recorder.end(session.id);
    try {
      await this.deps.store.sessions.end(session.id, new Date().toISOString(), reason);
    } catch (err) {
      this.deps.logger.error({ err, session: session.id }, 'could not record the end of a session');
    }
  }

  private async recordRefusal(req: OpenRequest, subject: Subject | undefined, error: WardenError): Promise<void> {
    const log = { code: error.code, user: req.user, target: req.targetName, client: req.clientAddress, detail: error.detail };
    this.deps.logger.warn(log, `session refused: ${error.message}`);
    if (error.code === 'WARDEN_ERR_STORE_UNAVAILABLE') return;
    const placeholder: Target = { name: req.targetName, type: req.protocol, host: '', port: 0, database: req.database ?? '',
      user: '', tls: 'disable', ca: null, labels: {} };
    const refused = newSession(req, subject ?? unauthenticated(req.user), placeholder);
    try {
      await this.deps.store.sessions.insert(sessionRow(refused, refused.startedAt, `refused: ${error.code}: ${error.callerMessage}`));
    } catch (err) {
      this.deps.logger.error({ err }, 'could not record a refused session');
    }
  }
}

function unauthenticated(user: string): Subject {
  return { id: user, kind: 'user', groups: [], chain: [], tokenId: '', targets: [], expiresAt: 0 };
}

function newSession(req: OpenRequest, subject: Subject, target: Target): Session {
  return {
    id: `ses_${randomUUID()}`, protocol: req.protocol, subject, target,
    database: req.database ?? target.database, clientAddress: req.clientAddress, startedAt: Date.now(),
  };
}

function toTarget(r: TargetRecord): Target {
  return { name: r.name, type: r.type, host: r.host, port: r.port, database: r.database, user: r.user, tls: r.tls,
    ca: r.ca, labels: r.labels };
}

function sessionRow(s: Session, endedAt: number | null, endReason: string | null) {
  return {
    id: s.id, protocol: s.protocol, subject: s.subject.id, subjectKind: s.subject.kind, groups: s.subject.groups,
    chain: s.subject.chain, tokenId: s.subject.tokenId, target: s.target.name, database: s.database,
    clientAddress: s.clientAddress, startedAt: new Date(s.startedAt).toISOString(),
    endedAt: endedAt === null ? null : new Date(endedAt).toISOString(), endReason,
  };
}
