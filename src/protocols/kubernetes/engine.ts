/**
 * The Kubernetes engine: one API request from its first byte to its answer. The caller is authenticated by its
 * bearer Warden token and joined to its connection's session (connection-sessions.ts); the request becomes one
 * Command (`METHOD /path?query` after the `/k8s/<target>` prefix, exactly as forwarded, with the caller's
 * impersonation headers and the write body the analyser judges); the pipeline decides; only an allowed request is
 * sent upstream (upstream.ts), with the vaulted credential instead of the caller's, and its answer relayed
 * (response-relay.ts), masked when a rule says so. A request held for approval waits on its open connection and
 * runs once, when approved. Every request is recorded with its outcome. It never decides anything itself and never
 * sends the caller a backend secret or detail.
 */
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import { maskFreeText } from '../../masking/text.js';
import type { Policy } from '../../policy/schema.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Analysis, ProtocolDefinition } from '../../session/protocol.js';
import type { SessionRegistry } from '../../session/registry.js';
import type { Command, Verdict } from '../../session/types.js';
import { ConnectionSessions, type ActiveRequest, type KubeSession } from './connection-sessions.js';
import { kubernetesProtocol, type KubeCommandAttributes } from './definition.js';
import { deniedStatus, sendStatus, statusForError, warningHeader } from './errors.js';
import { jsonOnlyAccept, readCallerHeaders, type CallerHeaders } from './headers.js';
import { forwardedBody, judgedBodyText, readBodyHead, type ReadBody } from './request-body.js';
import { parseRequestTarget, type RequestTarget } from './request-target.js';
import { relayResponse, type RelayPlan } from './response-relay.js';
import { secretsGranted } from './secret-grant.js';
import { secretScopeFor, type SecretScope } from './secret-masking.js';
import type { KubeUnitDetail } from '../../analysis/kube/index.js';
import { maskSecretsInText } from './secret-response.js';
import { credentialHeaders, serverBase, UpstreamPools } from './upstream.js';

/** Everything the engine needs from the server. */
export interface KubeEngineDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  logger: Logger;
  /** The policies in force (to tell whether a rule grants class `secrets`). */
  policies: { current(): readonly Policy[] };
  /** The upstream pools (default: a fresh set). */
  pools?: UpstreamPools;
  /** The protocol definition whose analyser judges requests (default: the built-in kubernetes protocol). */
  protocol?: ProtocolDefinition;
  /** Called once a session opened on a caller connection (the listener stops counting it as in its login phase). */
  authenticated?(socket: Socket): void;
}

/** Methods the API defines; anything else is refused before any decision. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Methods whose body the API reads (DELETE carries DeleteOptions: dryRun, propagationPolicy, preconditions). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Most of a write body kept in the recording. */
const RECORDED_BODY = 64 * 1024;
const NO_BODY: ReadBody = { head: Buffer.alloc(0), complete: true };

/** The Kubernetes request handler of one listener. */
export class KubeEngine {
  readonly sessions: ConnectionSessions;
  readonly pools: UpstreamPools;
  private readonly protocol: ProtocolDefinition;

  constructor(private readonly deps: KubeEngineDeps) {
    this.sessions = new ConnectionSessions(deps);
    this.pools = deps.pools ?? new UpstreamPools();
    this.protocol = deps.protocol ?? kubernetesProtocol;
  }

  /** Serves one request to its end. Never throws: every failure becomes a Status (or a cut connection mid-answer). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.serve(req, res);
    } catch (err) {
      const error = toWardenError(err);
      const log = { code: error.code, detail: error.detail, client: req.socket.remoteAddress };
      if (error.kind === 'internal') this.deps.logger.error(log, `kubernetes request failed: ${error.message}`);
      else this.deps.logger.debug(log, `kubernetes request refused: ${error.message}`);
      if (!res.writableEnded) sendStatus(res, statusForError(error));
    }
  }

  /** Authenticates the caller and joins (or opens) its session. */
  async authenticate(req: IncomingMessage): Promise<{ target: RequestTarget; caller: CallerHeaders; kube: KubeSession }> {
    const target = parseRequestTarget(req.url ?? '');
    const caller = readCallerHeaders(req.headers, req.rawHeaders);
    if (caller.token === undefined) {
      throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'send a Warden token as the bearer token '
        + '(kubectl: `warden kubeconfig TARGET` writes a kubeconfig that does)');
    }
    const clientAddress = `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`;
    const kube = await this.sessions.get(req.socket, target.target, caller.token, clientAddress);
    if (kube.ending !== undefined) throw new WardenError('WARDEN_ERR_SESSION_TERMINATED', `session ended: ${kube.ending}`);
    return { target, caller, kube };
  }

  /** The Command a request becomes (the contract of definition.ts). */
  command(method: string, target: RequestTarget, caller: CallerHeaders, body: ReadBody | null): Command {
    const attributes: KubeCommandAttributes = {};
    if (caller.impersonate !== '') attributes.impersonate = caller.impersonate;
    const contentType = caller.passed['content-type'];
    if (contentType !== undefined) attributes.contentType = contentType;
    if (body !== null && body.head.length > 0) {
      const text = judgedBodyText(contentType, body);
      if (text !== undefined) attributes.body = text;
      else attributes.bodyUnread = 'true';
    }
    return { protocol: 'kubernetes', kind: 'request', text: `${method} ${target.apiPath}`,
      attributes: attributes as Record<string, string> };
  }

  /**
   * Asks the pipeline; a held request waits on its connection and is withdrawn when the caller goes away (`caller`:
   * the response or upgraded socket whose `close` says so).
   */
  async decide(kube: KubeSession, command: Command, res: NodeJS.EventEmitter): Promise<Verdict> {
    const notices: string[] = [];
    const pending = this.deps.pipeline.onCommand(kube.session, command, { notify: (m) => notices.push(m) });
    if (!(pending instanceof Promise)) return pending;
    const gone = () => { this.deps.pipeline.withdraw(kube.session, 'the caller disconnected').catch(() => {}); };
    res.once('close', gone);
    try {
      return await pending;
    } finally {
      res.off('close', gone);
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? '';
    if (!METHODS.has(method)) throw new WardenError('WARDEN_ERR_BAD_REQUEST', `the method ${method} is not part of the Kubernetes API`);
    const { target, caller, kube } = await this.authenticate(req);
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !BODY_METHODS.has(method)) throw new WardenError('WARDEN_ERR_BAD_REQUEST', `a ${method} request carries no body`);
    const body = hasBody ? await readBodyHead(req) : NO_BODY;
    const command = this.command(method, target, caller, body);
    const analysis = this.protocol.analyse(command, undefined);
    // The body an approver reads and the recording keeps (never used to decide): Secret values always masked.
    if (body.head.length > 0) command.params = [this.shownBody(kube, command, body, analysis)];
    const verdict = await this.decide(kube, command, res);
    if (verdict.effect === 'deny') {
      sendStatus(res, deniedStatus(verdict.message));
      return;
    }
    command.decision = verdict.note;
    // Approved while the caller left or Warden ended the session: nobody would read the answer, so it does not run.
    if (res.destroyed || kube.ending !== undefined) return;
    const plan = this.plan(kube, analysis, target, verdict);
    await this.forward({ req, res, kube, target, caller, command, body, plan, analysis, started });
  }

  /**
   * The headers Warden adds upstream for an allowed request: the vaulted credential (or Warden's impersonation of
   * the caller) and the caller's own `Impersonate-*` headers, which reach the cluster only once a rule allowed them
   * (the analyser made the request class `privilege`). A target that impersonates its callers refuses them.
   */
  upstreamHeaders(kube: KubeSession, caller: CallerHeaders): Record<string, string | string[]> {
    if (caller.impersonateHeaders.length > 0 && kube.target.impersonate) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `target "${kube.target.name}" impersonates its callers itself; `
        + 'send no Impersonate-* headers (kubectl --as) to it');
    }
    const headers = credentialHeaders(kube.target, kube.credentials, kube.session.subject);
    for (const [name, value] of caller.impersonateHeaders) {
      const had = headers[name];
      headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    return headers;
  }

  /** How the answer must be relayed: masked (Secrets, content rules) or passed through. */
  private plan(kube: KubeSession, analysis: Analysis, target: RequestTarget, verdict: Verdict): RelayPlan {
    const masking = this.deps.pipeline.masking(kube.session);
    const scope = secretScope(analysis);
    const maskSecrets = scope !== null
      && !secretsGranted(this.deps.policies.current(), kube.session.subject, kube.target, analysis, this.protocol) ? scope : null;
    const warnings = kube.warnings.splice(0).map(warningHeader);
    if (verdict.note.approval !== undefined) warnings.push(warningHeader(`warden: run after approval ${verdict.note.approval}`));
    return { maskSecrets, content: masking.contentItems.length > 0 ? masking : null, watch: isWatch(target),
      extraHeaders: warnings.length > 0 ? { warning: warnings } : {} };
  }

  private async forward(a: { req: IncomingMessage; res: ServerResponse; kube: KubeSession; target: RequestTarget;
    caller: CallerHeaders; command: Command; body: ReadBody; plan: RelayPlan; analysis: Analysis; started: number }): Promise<void> {
    const { req, res, kube, target, caller, command, body, plan } = a;
    const headers: Record<string, string | string[]> = { ...caller.passed, 'accept-encoding': 'identity',
      ...this.upstreamHeaders(kube, caller) };
    if (plan.maskSecrets !== null || plan.content !== null) headers.accept = jsonOnlyAccept(caller.passed.accept);
    if (!body.complete && req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    const abort = new AbortController();
    const active: ActiveRequest = { end: (reason) => endRequest(res, plan, reason, abort) };
    kube.active.add(active);
    res.once('close', () => abort.abort());
    let outcome: { status: number; bytes: number; error?: string; hits?: Record<string, number> } = { status: 0, bytes: 0 };
    try {
      const upstream = await this.pools.request(kube.target, kube.tls, {
        method: req.method as 'GET', path: serverBase(kube.target).prefix + target.apiPath, headers,
        body: BODY_METHODS.has(req.method ?? '') && body.head.length > 0 ? forwardedBody(req, body) : undefined,
        signal: abort.signal, longRunning: isLongRunning(target),
      });
      try {
        // A 401 from the cluster is about Warden's credential, not the caller's: kubectl would take it for its own.
        if (upstream.statusCode === 401) {
          throw new WardenError('WARDEN_ERR_UPSTREAM_AUTH', `the API server of target "${kube.target.name}" refused the `
            + 'credential Warden holds for it (401): an administrator must renew it (warden targets test)');
        }
        outcome = await relayResponse(upstream, res, plan);
      } catch (err) {
        upstream.body.destroy();
        throw err;
      }
    } catch (err) {
      const error = toWardenError(err);
      outcome = { status: statusForError(error).code, bytes: outcome.bytes, error: error.callerMessage };
      if (abort.signal.aborted && res.destroyed) outcome.error = 'the caller went away';
      else throw error;
    } finally {
      kube.active.delete(active);
      this.record(a, outcome);
    }
  }

  /** Records the request: its decision and outcome, and what it was about (verb, resource, namespace, name). */
  private record(a: { kube: KubeSession; command: Command; analysis: Analysis; started: number },
    outcome: { status: number; bytes: number; error?: string; hits?: Record<string, number> }): void {
    const { pipeline } = this.deps;
    const durationMs = performance.now() - a.started;
    pipeline.onOutcome(a.kube.session, a.command, { durationMs, tag: `HTTP ${outcome.status}`,
      ...(outcome.status >= 400 || outcome.error !== undefined
        ? { error: { code: `HTTP ${outcome.status}`, message: outcome.error ?? 'the API server refused the request' } } : {}) });
    const attrs = a.analysis.units[0]?.attributes ?? {};
    pipeline.onEvent(a.kube.session, 'kube.request', {
      verb: attrs.verbs?.[0] ?? null, resource: attrs.resources?.[0] ?? null, namespace: attrs.namespaces?.[0] ?? null,
      name: attrs.names?.[0] ?? null, status: outcome.status, durationMs: Math.round(durationMs * 100) / 100, bytes: outcome.bytes,
      ...(outcome.hits ? { masked: outcome.hits } : {}),
    });
  }

  /**
   * A write body as approvers read it and recordings keep it: Secret values and content matches masked, cut to
   * RECORDED_BODY characters; a body Warden did not read as JSON is described, never shown.
   */
  private shownBody(kube: KubeSession, command: Command, body: ReadBody, analysis: Analysis): string {
    const json = (command.attributes as KubeCommandAttributes | undefined)?.body;
    const unread = `[body not read: ${body.complete ? `${body.head.length} bytes` : 'more than 1 MiB'} of `
      + `${(command.attributes as KubeCommandAttributes | undefined)?.contentType ?? 'no content type'}]`;
    if (json === undefined) return unread;
    let text: string;
    try {
      text = maskSecretsInText(json, secretScope(analysis) ?? 'any');
    } catch {
      return unread;
    }
    const { rules, hashKey } = this.deps.pipeline.masking(kube.session);
    if (rules.length > 0) text = maskFreeText(text, rules, hashKey);
    return text.length > RECORDED_BODY ? `${text.slice(0, RECORDED_BODY)}...(${text.length} characters)` : text;
  }
}

/** Ends a request Warden ends (revocation, kill): a watch gets an ERROR event, other streams a last line. */
function endRequest(res: ServerResponse, plan: RelayPlan, reason: string, abort: AbortController): void {
  const message = `warden: session ended: ${reason}`;
  if (!res.headersSent) sendStatus(res, statusForError(new WardenError('WARDEN_ERR_SESSION_TERMINATED', `session ended: ${reason}`)));
  else if (!res.writableEnded) {
    const event = { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message,
      reason: 'Forbidden', code: 403 } };
    res.end(plan.watch ? `${JSON.stringify(event)}\n` : `\n${message}\n`);
  }
  abort.abort();
}

/**
 * Where a request's answer may hold Secret values, as secret-masking.ts scopes them (`secretScopeFor`): `secrets`
 * for the `secrets` resource (any verb or subresource: a write answers with the object) and for a request that did
 * not parse; null for every other resource and for non-resource URLs, whose answers are streamed untouched. An object
 * of another kind never holds a Secret's values (a pod's env only names its Secret), so Warden does not read every
 * answer whole to look for one.
 */
export function secretScope(analysis: Analysis): SecretScope | null {
  const secrets = analysis.units.some((u) => secretScopeFor((u.detail as KubeUnitDetail | undefined)?.info) === 'secrets');
  return secrets ? 'secrets' : null;
}

function queryFlag(target: RequestTarget, key: string): boolean {
  const value = new URLSearchParams(target.query).get(key);
  return value !== null && /^(1|t|true)$/i.test(value);
}

/** A watch: `?watch=true` or the legacy `/watch/` paths. */
export function isWatch(target: RequestTarget): boolean {
  return queryFlag(target, 'watch') || /^\/apis?\/(?:[^/]+\/)?v[^/]*\/watch(\/|$)/.test(target.path);
}

/** Requests whose answer may stay open indefinitely (no body timeout): watches and followed logs. */
function isLongRunning(target: RequestTarget): boolean {
  return isWatch(target) || queryFlag(target, 'follow');
}
