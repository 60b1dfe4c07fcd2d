/**
 * Upgrade requests (kubectl exec, attach, port-forward): judged like any request, then relayed over WebSocket
 * (websocket-relay.ts), recorded and masked. SPDY (kubectl before 1.30) is refused, never relayed unrecorded; since
 * kubectl 1.30+ falls back to SPDY after ANY refused WebSocket, the fallback gets the answer its WebSocket attempt got
 * (a denial, the cluster's 404) rather than a message about SPDY (upgrade-response.ts). Nothing reaches the cluster
 * without an allow; a request held for approval waits on the open socket and is withdrawn when the caller leaves.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WardenError, toWardenError } from '../../errors.js';
import type { ActiveRequest, KubeSession } from './connection-sessions.js';
import type { KubeEngine } from './engine.js';
import { deniedStatus, statusForError, type KubeStatus } from './errors.js';
import type { KubeListenerDeps } from './listener.js';
import { UpgradeRefusals, isSpdyUpgrade, writeUpgradeAnswer } from './upgrade-response.js';
import { serverBase } from './upstream.js';
import { relayWebSocketUpgrade } from './websocket-relay.js';

const refusals = new UpgradeRefusals();

/** The key a refusal is remembered under: the caller's credential (hashed) and the request URL. */
function refusalKey(req: IncomingMessage): string {
  return createHash('sha256').update(String(req.headers.authorization ?? '')).update('\0').update(req.url ?? '').digest('base64');
}

/** Answers one upgrade request. */
export async function handleUpgrade(engine: KubeEngine, req: IncomingMessage, socket: Duplex, head: Buffer,
  deps: KubeListenerDeps): Promise<void> {
  const key = refusalKey(req);
  if (isSpdyUpgrade(req)) {
    refusals.answerSpdy(socket, key);
    return;
  }
  const refuse = (status: KubeStatus): void => {
    const body = JSON.stringify(status);
    refusals.remember(key, status.code, body);
    writeUpgradeAnswer(socket, status.code, body);
  };
  try {
    if (req.method !== 'GET') throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'a WebSocket upgrade is a GET');
    const { target, caller, kube } = await engine.authenticate(req);
    const command = engine.command('GET', target, caller, null);
    const verdict = await engine.decide(kube, command, socket);
    if (verdict.effect === 'deny') return refuse(deniedStatus(verdict.message));
    if (socket.destroyed) return;
    command.decision = verdict.note;
    const headers = engine.upstreamHeaders(kube, caller);
    const { origin, prefix } = serverBase(kube.target);
    const relay = await relayWebSocketUpgrade({ request: req, socket, head, upstreamUrl: `${origin.replace(/^https:/, 'wss:')}${prefix}${target.apiPath}`,
      upstreamHeaders: headers, tls: kube.tls, session: kube.session, pipeline: deps.pipeline, command, refusals, refusalKey: key });
    track(kube, relay);
  } catch (err) {
    const error = toWardenError(err);
    if (error.kind === 'internal') deps.logger.error({ code: error.code, detail: error.detail }, `kubernetes upgrade failed: ${error.message}`);
    refuse(statusForError(error));
  }
}

/** Lets the session end the stream (revocation, kill, shutdown) while it runs. */
function track(kube: KubeSession, relay: { closed: Promise<void>; terminate(reason: string): void }): void {
  const active: ActiveRequest = { end: (reason) => relay.terminate(reason) };
  kube.active.add(active);
  relay.closed.then(() => kube.active.delete(active), () => kube.active.delete(active));
}
