/**
 * What a Warden session is for HTTP: one caller (Warden token) with one target, across requests and connections,
 * ending after an idle gap without a request (`--http-session-idle`, or the policies' shorter idle timeout). A
 * request in flight (a stream, a WebSocket) keeps it open. Each session is in the live-session registry:
 * revocation, `sessions kill`, token expiry and shutdown end it at once: its open requests and WebSockets are ended
 * (within a second), and the caller's next request with that token and target is refused until an idle gap has passed
 * (a killed session is not silently reopened). Notices (token expiry) go out as `Warning` headers on the next answer.
 * The vaulted credentials are read once, when the session opens, and kept only in memory for its life.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { WardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { SessionRegistry, TerminateOptions } from '../../session/registry.js';
import type { Session } from '../../session/session.js';
import type { HttpCredentials, HttpTarget } from '../../session/types.js';
import { tokenUser } from '../kubernetes/connection-sessions.js';
import { httpCredentials } from './definition.js';
import { httpUpstreamTls, type HttpUpstreamTls } from './upstream.js';
import { secretForms } from './secret-scrub.js';

/** A request or WebSocket in flight on a session, which Warden can end. */
export interface ActiveRequest {
  end(reason: string): void;
}

/** One open HTTP session. */
export interface HttpSession {
  session: Session;
  target: HttpTarget;
  credentials: HttpCredentials;
  tls: HttpUpstreamTls;
  /** The byte forms of the injected credential, scrubbed from answers. */
  secretForms: Buffer[];
  active: Set<ActiveRequest>;
  /** Requests (and streams) in flight: the idle timer runs only while there are none. */
  inFlight: number;
  /** Notices for the caller, sent as Warning headers on the next answer. */
  warnings: string[];
  /** Set once the session ends. */
  ending?: string;
}

interface Entry {
  opening: Promise<HttpSession>;
  timer?: NodeJS.Timeout;
  /** Set once ended: requests are refused with it until `until`. */
  ended?: { reason: string; until: number };
}

/** What the sessions need. */
export interface HttpSessionDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  logger: Logger;
  /** Idle gap after which a session ends (ms). */
  idleMs: number;
}

/** The HTTP sessions of one listener. */
export class HttpSessions {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: HttpSessionDeps) {}

  /**
   * Joins (or opens) the session of this token and target and counts one request in it; call the returned
   * `done` when the request (or its stream) ended.
   */
  async begin(token: string, targetName: string, clientAddress: string): Promise<{ http: HttpSession; done(): void }> {
    const key = `${createHash('sha256').update(token).digest('hex')}\0${targetName}`;
    let entry = this.entries.get(key);
    if (entry?.ended !== undefined) {
      if (Date.now() < entry.ended.until) {
        throw new WardenError('WARDEN_ERR_SESSION_TERMINATED', `session ended: ${entry.ended.reason}`);
      }
      this.entries.delete(key);
      entry = undefined;
    }
    if (entry === undefined) {
      const fresh: Entry = { opening: this.open(key, token, targetName, clientAddress) };
      entry = fresh;
      this.entries.set(key, fresh);
      fresh.opening.catch(() => { if (this.entries.get(key) === fresh) this.entries.delete(key); });
    }
    const http = await entry.opening;
    if (http.ending !== undefined) throw new WardenError('WARDEN_ERR_SESSION_TERMINATED', `session ended: ${http.ending}`);
    const counted = entry;
    if (counted.timer !== undefined) clearTimeout(counted.timer);
    counted.timer = undefined;
    let finished = false;
    http.inFlight++;
    return { http, done: () => {
      if (finished) return;
      finished = true;
      http.inFlight--;
      if (http.inFlight === 0 && http.ending === undefined) this.arm(key, counted, http);
    } };
  }

  /** Starts the idle timer of a session with no request in flight. */
  private arm(key: string, entry: Entry, http: HttpSession): void {
    const idle = (http.session.idleTimeoutMs ?? 0) > 0 ? Math.min(http.session.idleTimeoutMs!, this.deps.idleMs) : this.deps.idleMs;
    if (idle <= 0) return;
    entry.timer = setTimeout(() => {
      if (this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      this.end(http, `idle for ${Math.round(idle / 1000)} s`).catch(() => {});
    }, idle);
    entry.timer.unref();
  }

  private async open(key: string, token: string, targetName: string, clientAddress: string): Promise<HttpSession> {
    const { pipeline, registry, logger } = this.deps;
    const session = await pipeline.open({ protocol: 'http', credential: { kind: 'token', token }, user: tokenUser(token),
      targetName, clientAddress, idleTimeoutMs: this.deps.idleMs });
    let credentials: HttpCredentials;
    try {
      credentials = httpCredentials(await pipeline.credentials(session));
    } catch (err) {
      await pipeline.close(session, 'the target\'s credentials could not be read');
      throw err;
    }
    const target = session.target as HttpTarget;
    const http: HttpSession = { session, target, credentials, tls: httpUpstreamTls(target, credentials),
      secretForms: secretForms(target.auth, credentials.secret), active: new Set(), inFlight: 0, warnings: [] };
    const terminate = async (reason: string, options?: TerminateOptions): Promise<void> => {
      if (options?.letStatementsFinish) {
        pipeline.drain(session, reason);
        const deadline = Date.now() + (options.graceMs ?? 30_000);
        while (http.active.size > 0 && Date.now() < deadline && http.ending === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      const entry = this.entries.get(key);
      if (entry !== undefined && (await entry.opening.catch(() => null)) === http) {
        if (entry.timer !== undefined) clearTimeout(entry.timer);
        entry.ended = { reason, until: Date.now() + Math.max(this.deps.idleMs, 1000) };
      }
      await this.end(http, reason);
    };
    registry.add({ session, terminate, get ending() { return http.ending !== undefined; },
      notify: (message) => { http.warnings.push(message); } });
    logger.info({ session: session.id, user: session.subject.id, target: target.name }, 'http session started');
    return http;
  }

  /** Ends a session: its requests and WebSockets are ended, the registry and the recording told. */
  private async end(http: HttpSession, reason: string): Promise<void> {
    if (http.ending !== undefined) return;
    http.ending = reason;
    for (const request of http.active) request.end(reason);
    this.deps.registry.remove(http.session.id);
    await this.deps.pipeline.close(http.session, reason);
    this.deps.logger.info({ session: http.session.id, reason }, 'http session ended');
  }

  /** Ends every session (shutdown; the registry normally does this first). */
  async closeAll(reason: string): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map(async (e) => {
      if (e.timer !== undefined) clearTimeout(e.timer);
      await this.end(await e.opening, reason);
    }));
  }
}
