/**
 * The HTTP engine: one request from its head to its answer. The request is routed to a target (routing.ts), the
 * caller authenticated by its Warden token (caller-auth.ts) and joined to its session with that target
 * (sessions.ts); it becomes one Command (`METHOD /normalised/path?query`, with up to 1 MiB of a JSON body); the
 * pipeline decides; only an allowed request is sent upstream (upstream.ts) with the vaulted credential instead of
 * the caller's (request-headers.ts), and its answer relayed (response-relay.ts): hop-by-hop headers dropped, the
 * credential scrubbed, masked when a rule says so. A request held for approval keeps the caller's request open and
 * runs once, when approved; a caller that leaves withdraws it. Every answer carries `X-Warden-Request-Id`; every
 * request of a session is recorded (recording.ts). It never decides anything itself.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { ProtocolDefinition } from '../../session/protocol.js';
import type { SessionRegistry } from '../../session/registry.js';
import type { Command, Verdict } from '../../session/types.js';
import { warningHeader } from '../kubernetes/errors.js';
import { readBodyHead, type ReadBody } from '../kubernetes/request-body.js';
import { callerToken } from './caller-auth.js';
import type { HttpCommandAttributes } from './definition.js';
import { deniedProblem, problemOf, sendProblem } from './errors.js';
import { recordExchange, type ExchangeFacts } from './recording.js';
import { announcesBody, forwardedBody, judgedJson } from './request-body.js';
import { methodOverrideRefusal, queryCredentialName, queryWithout, upstreamHeaders, upstreamQuery } from './request-headers.js';
import { relayAnswer } from './response-relay.js';
import { routeRequest, type HttpRoute } from './routing.js';
import { maskTextBody } from './response-masking.js';
import { HttpSessions, type ActiveRequest, type HttpSession } from './sessions.js';
import { HttpUpstreamPools, targetBase } from './upstream.js';

/** Everything the engine needs from the server. */
export interface HttpEngineDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  logger: Logger;
  /** The http protocol definition (its analyser judges requests). */
  protocol: ProtocolDefinition;
  /** The domain of host-name routes; null: path-prefix routes only. */
  domain: string | null;
  /** True when callers reach Warden over HTTPS (X-Forwarded-Proto). */
  tls: boolean;
  /** Idle gap after which a session ends (ms). */
  sessionIdleMs: number;
  /** Most of a body kept in a recording (bytes). */
  recordBodyBytes: number;
  pools?: HttpUpstreamPools;
  /** Called once a session opened for a request on `socket` (the listener's login-phase admission). */
  authenticated?(socket: Socket): void;
}

/** A request routed, authenticated and counted in its session. */
export interface Joined {
  route: HttpRoute;
  http: HttpSession;
  /** The caller's query without a parameter named like the target's `query:NAME` credential. */
  query: string;
  done(): void;
}

const NO_BODY: ReadBody = { head: Buffer.alloc(0), complete: true };

/** The HTTP request handler of one listener. */

/** Most of a request body an approver is shown (characters). */
const SHOWN_BODY = 16 * 1024;
export class HttpEngine {
  readonly sessions: HttpSessions;
  readonly pools: HttpUpstreamPools;

  constructor(readonly deps: HttpEngineDeps) {
    this.sessions = new HttpSessions({ ...deps, idleMs: deps.sessionIdleMs });
    this.pools = deps.pools ?? new HttpUpstreamPools();
  }

  /** Serves one request to its end. Never throws: every failure becomes a problem document (or a cut answer). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-warden-request-id', requestId);
    const facts: ExchangeFacts = { requestId, started: performance.now(), startedAt: new Date().toISOString(),
      method: req.method ?? '', req, path: '', query: '', status: 0, requestBytes: 0, responseBytes: 0 };
    let joined: Joined | undefined;
    try {
      joined = await this.join(req);
      facts.path = joined.route.path;
      facts.query = joined.query;
      await this.serve(req, res, joined, facts);
    } catch (err) {
      const error = toWardenError(err);
      const log = { code: error.code, detail: error.detail, client: req.socket.remoteAddress, requestId };
      if (error.kind === 'internal') this.deps.logger.error(log, `http request failed: ${error.message}`);
      else this.deps.logger.debug(log, `http request refused: ${error.message}`);
      const problem = problemOf(error, requestId);
      if (!res.headersSent && !res.destroyed) sendProblem(res, problem);
      else res.destroy();
      facts.status = problem.status;
      facts.error = error.callerMessage;
    } finally {
      if (joined !== undefined) {
        if (facts.command !== undefined) recordExchange(this.deps.pipeline, joined.http, facts, this.deps.recordBodyBytes);
        joined.done();
      }
    }
  }

  /** Routes and authenticates a request and joins (or opens) its session. */
  async join(req: IncomingMessage): Promise<Joined> {
    const route = routeRequest(req.url ?? '', req.headers.host, this.deps.domain);
    const override = methodOverrideRefusal(req.headers, route.query);
    if (override !== undefined) throw new WardenError('WARDEN_ERR_BAD_REQUEST', override);
    const token = callerToken(req.headers, req.rawHeaders);
    if (token === undefined) {
      throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'send your Warden token: Authorization: Bearer <token> '
        + '(or HTTP Basic with the token as the password, or sign in to the portal)');
    }
    const clientAddress = `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`;
    const { http, done } = await this.sessions.begin(token, route.target, clientAddress);
    this.deps.authenticated?.(req.socket);
    return { route, http, done, query: queryWithout(route.query, queryCredentialName(http.target.auth)) };
  }

  /** The Command a request becomes (HTTP.md section 2). */
  command(method: string, path: string, query: string, contentType: string | undefined, body: ReadBody | null,
    upgrade = false): Command {
    const attributes: HttpCommandAttributes = {};
    if (contentType !== undefined) attributes.contentType = contentType;
    if (body !== null && body.head.length > 0) {
      const text = judgedJson(body, contentType);
      if (text !== undefined) attributes.body = text;
      else attributes.bodyUnread = 'true';
    }
    if (upgrade) attributes.upgrade = 'websocket';
    return { protocol: 'http', kind: 'request', text: `${method} ${path}${query === '' ? '' : `?${query}`}`,
      attributes: attributes as Record<string, string> };
  }

  /**
   * A request body as approvers read it: the judged JSON masked like a recorded body and cut to SHOWN_BODY characters;
   * a body Warden did not read as JSON is described, never shown.
   */
  shownBody(http: HttpSession, command: Command, body: ReadBody): string {
    const attributes = (command.attributes ?? {}) as HttpCommandAttributes;
    const described = `[body not read as JSON: ${body.complete ? `${body.head.length} bytes` : 'more than Warden reads'} of `
      + `${attributes.contentType ?? 'no content type'}]`;
    if (attributes.body === undefined) return described;
    const masked = maskTextBody(attributes.body, 'application/json', this.deps.pipeline.masking(http.session));
    if (masked.unmaskable) return described;
    return masked.text.length > SHOWN_BODY ? `${masked.text.slice(0, SHOWN_BODY)}...(${masked.text.length} characters)` : masked.text;
  }

  /** Asks the pipeline; a held request waits and is withdrawn when `caller` (response or socket) closes first. */
  async decide(http: HttpSession, command: Command, caller: NodeJS.EventEmitter): Promise<Verdict> {
    const pending = this.deps.pipeline.onCommand(http.session, command, { notify: () => {} });
    if (!(pending instanceof Promise)) return pending;
    const gone = () => { this.deps.pipeline.withdraw(http.session, 'the caller disconnected').catch(() => {}); };
    caller.once('close', gone);
    try {
      return await pending;
    } finally {
      caller.off('close', gone);
    }
  }

  /** The Warning headers of an answer: the session's notices and the approval it ran after. */
  warnings(http: HttpSession, verdict: Verdict): string[] {
    const out = http.warnings.splice(0).map(warningHeader);
    if (verdict.note.approval !== undefined) out.push(warningHeader(`warden: run after approval ${verdict.note.approval}`));
    return out;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, joined: Joined, facts: ExchangeFacts): Promise<void> {
    const { http, route, query } = joined;
    const method = req.method ?? '';
    const body = announcesBody(req) ? await readBodyHead(req) : NO_BODY;
    facts.body = body;
    const command = this.command(method, route.path, query, req.headers['content-type'], body);
    // What an approver reads with the request line (never used to decide): the body masked, or what it was.
    if (body.head.length > 0) command.params = [this.shownBody(http, command, body)];
    facts.command = command;
    const verdict = await this.decide(http, command, res);
    if (verdict.effect === 'deny') {
      const problem = deniedProblem(verdict.message, facts.requestId);
      sendProblem(res, problem);
      facts.status = 403;
      facts.error = verdict.message;
      facts.denied = true;
      return;
    }
    command.decision = verdict.note;
    // Approved after the caller left or Warden ended the session: nobody would read the answer, so it does not run.
    if (res.destroyed || http.ending !== undefined) {
      facts.error = res.destroyed ? 'the caller went away' : `session ended: ${http.ending}`;
      return;
    }
    await this.forward(req, res, joined, facts, verdict);
  }

  private async forward(req: IncomingMessage, res: ServerResponse, joined: Joined, facts: ExchangeFacts, verdict: Verdict): Promise<void> {
    const { http, route } = joined;
    const { target, credentials } = http;
    const abort = new AbortController();
    const active: ActiveRequest = { end: (reason) => {
      if (!res.headersSent) sendProblem(res, problemOf(new WardenError('WARDEN_ERR_SESSION_TERMINATED', `session ended: ${reason}`), facts.requestId));
      else res.destroy();
      abort.abort();
    } };
    http.active.add(active);
    res.once('close', () => abort.abort());
    let tooLarge = false;
    try {
      const headers = upstreamHeaders(req.rawHeaders, target, credentials.secret, { clientAddress: req.socket.remoteAddress ?? '',
        proto: this.deps.tls ? 'https' : 'http', ...(route.via === 'host' ? { host: req.headers.host } : {}) });
      const body = facts.body ?? NO_BODY;
      if (!body.complete && req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
      const query = upstreamQuery(joined.query, target.auth, credentials.secret);
      const upstream = await this.pools.request(target, http.tls, {
        method: req.method as 'GET', path: `${targetBase(target).prefix}${route.path}${query === '' ? '' : `?${query}`}`, headers,
        body: body.head.length > 0 || !body.complete ? forwardedBody(req, body, () => { tooLarge = true; }) : undefined,
        signal: abort.signal,
      });
      facts.requestBytes = body.complete ? body.head.length : Number(req.headers['content-length'] ?? body.head.length);
      const result = await relayAnswer(upstream, res, { http, pipeline: this.deps.pipeline, warnings: this.warnings(http, verdict),
        recordLimit: this.deps.recordBodyBytes });
      Object.assign(facts, result);
    } catch (err) {
      if (tooLarge) throw new WardenError('WARDEN_ERR_MESSAGE_TOO_LARGE', 'the request body is larger than Warden relays');
      if (abort.signal.aborted && res.destroyed) {
        facts.error = http.ending !== undefined ? `session ended: ${http.ending}` : 'the caller went away';
        facts.status = facts.status || 499;
        return;
      }
      throw err;
    } finally {
      http.active.delete(active);
    }
  }
}
