/**
 * WebSocket upgrades: routed, authenticated and decided like a GET (the Command has `upgrade: 'websocket'`, judged
 * read and write), then relayed by relayWebSocket (HTTP.md section 5) with the credential injected and the caller's
 * credential stripped; the relay is tracked in the session, so revocation ends it. Nothing reaches the upstream
 * without an allow; a held upgrade waits on the open socket and is withdrawn when the caller leaves. Any other
 * upgrade (h2c, ...) is refused: Warden relays requests one by one, judged.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WardenError, toWardenError } from '../../errors.js';
import type { HttpEngine, Joined } from './engine.js';
import { deniedProblem, problemOf, writeRawProblem } from './errors.js';
import type { HttpWsCloseRecord, HttpWsMessageRecord } from './exchange-record.js';
import { maskTextBody } from './response-masking.js';
import { scrubBuffer } from './secret-scrub.js';
import { recordExchange, type ExchangeFacts } from './recording.js';
import { upstreamHeaders, upstreamQuery } from './request-headers.js';
import { targetBase } from './upstream.js';
import { relayWebSocket } from './websocket.js';

/** Answers one upgrade request. */
export async function handleUpgrade(engine: HttpEngine, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const requestId = randomUUID();
  const facts: ExchangeFacts = { requestId, started: performance.now(), startedAt: new Date().toISOString(), method: req.method ?? '',
    req, path: '', query: '', status: 0, requestBytes: 0, responseBytes: 0, websocket: true };
  let joined: Joined | undefined;
  let relayed = false;
  try {
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'Warden relays only WebSocket upgrades; send the request without Upgrade');
    }
    if (req.method !== 'GET') throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'a WebSocket upgrade is a GET');
    joined = await engine.join(req);
    const { http, route, query } = joined;
    facts.path = route.path;
    facts.query = query;
    const command = engine.command('GET', route.path, query, undefined, null, true);
    facts.command = command;
    const verdict = await engine.decide(http, command, socket);
    if (verdict.effect === 'deny') {
      writeRawProblem(socket, deniedProblem(verdict.message, requestId));
      Object.assign(facts, { status: 403, error: verdict.message, denied: true });
      return;
    }
    command.decision = verdict.note;
    if (socket.destroyed || http.ending !== undefined) return;
    const { target, credentials } = http;
    const { origin, prefix } = targetBase(target);
    const q = upstreamQuery(query, target.auth, credentials.secret);
    const headers = upstreamHeaders(req.rawHeaders, target, credentials.secret, { clientAddress: req.socket.remoteAddress ?? '',
      proto: engine.deps.tls ? 'https' : 'http', ...(route.via === 'host' ? { host: req.headers.host } : {}) });
    for (const name of Object.keys(headers)) if (name.startsWith('sec-websocket-')) delete headers[name];
    const session = http.session;
    const masking = engine.deps.pipeline.masking(session);
    const maskServerText = masking.rules.length === 0 ? null : (text: string) => {
      const masked = maskTextBody(text, undefined, masking);
      // Not JSON while a rule masks JSON fields: the relay closes the WebSocket (1011) rather than pass it on.
      if (masked.unmaskable) throw new WardenError('WARDEN_ERR_UNSUPPORTED', 'a WebSocket text message that is not JSON, while a rule masks JSON fields');
      return { text: masked.text, hits: masked.hits };
    };
    const relay = await relayWebSocket({ req, socket, head, requestId, recordLimit: engine.deps.recordBodyBytes,
      upstreamUrl: `${origin.replace(/^http/, 'ws')}${prefix}${route.path}${q === '' ? '' : `?${q}`}`,
      upstreamHeaders: headers, tls: http.tls, maskServerText,
      ...(http.secretForms.length > 0 ? { scrubServer: (data: Buffer) => scrubBuffer(data, http.secretForms) } : {}),
      record: (m: HttpWsMessageRecord) => engine.deps.pipeline.onEvent(session, 'http.ws.message', m as unknown as Record<string, unknown>),
      recordClose: (c: HttpWsCloseRecord) => engine.deps.pipeline.onEvent(session, 'http.ws.close', c as unknown as Record<string, unknown>),
      activity: () => {} });
    relayed = true;
    facts.status = 101;
    const active = { end: (reason: string) => relay.end(reason) };
    http.active.add(active);
    const finished = joined;
    relay.closed.finally(() => {
      http.active.delete(active);
      recordExchange(engine.deps.pipeline, http, facts, engine.deps.recordBodyBytes);
      finished.done();
    }).catch(() => {});
  } catch (err) {
    const error = toWardenError(err);
    if (error.kind === 'internal') engine.deps.logger.error({ code: error.code, detail: error.detail }, `http upgrade failed: ${error.message}`);
    const problem = problemOf(error, requestId);
    writeRawProblem(socket, problem);
    Object.assign(facts, { status: problem.status, error: error.callerMessage });
  } finally {
    if (!relayed && joined !== undefined) {
      recordExchange(engine.deps.pipeline, joined.http, facts, engine.deps.recordBodyBytes);
      joined.done();
    }
  }
}
