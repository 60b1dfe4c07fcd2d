/**
 * Answers to a connection upgrade (exec, attach, port-forward) that Warden does not relay, written on the raw socket
 * of the Node server's `upgrade` event: a Kubernetes `Status` kubectl prints. SPDY (kubectl before 1.30, or forced
 * with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) is never relayed: Warden cannot record or mask it.
 *
 * kubectl 1.30+ tries WebSocket first and falls back to SPDY on ANY refused upgrade (a 403 included), then prints the
 * SPDY attempt's error. So a WebSocket refusal (a denial, the cluster's own 404) is remembered for a few seconds
 * under a key the engine chooses (caller and URL), and the SPDY fallback that follows gets that same answer instead
 * of a message about SPDY the caller did not ask for.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { kubeStatus, type KubeStatus } from './errors.js';

/** The kubectl version that exec, attach and port-forward through Warden need (WebSocket by default). */
export const KUBECTL_WEBSOCKET_VERSION = '1.30';

/** True when the request asks to upgrade to SPDY (`Upgrade: SPDY/3.1`), the streaming protocol of old kubectl. */
export function isSpdyUpgrade(request: IncomingMessage): boolean {
  const upgrade = request.headers.upgrade ?? '';
  return upgrade.split(',').some((token) => /^\s*spdy\//i.test(token));
}

/** The refusal of a SPDY upgrade: 400, naming the kubectl version needed. */
export function spdyRefusal(): KubeStatus {
  return kubeStatus(400, 'BadRequest', `warden: exec, attach and port-forward through Warden need kubectl ${KUBECTL_WEBSOCKET_VERSION} `
    + 'or later over WebSocket; this request asked for SPDY, which Warden never relays unrecorded '
    + '(unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false if set)');
}

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Writes an HTTP answer with a JSON body on an upgrade's socket and closes it (nothing else was written to it). */
export function writeUpgradeAnswer(socket: Duplex, code: number, body: string, contentType = 'application/json'): void {
  if (socket.destroyed) return;
  const head = `HTTP/1.1 ${code} ${REASON_PHRASES[code] ?? 'Error'}\r\nContent-Type: ${contentType}\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`;
  socket.end(head + body);
  // A caller that stops reading must not keep the socket: it is destroyed once the answer went or after 5 s.
  setTimeout(() => socket.destroy(), 5000).unref();
}

/** Writes a `Status` as the answer to an upgrade. */
export function writeUpgradeStatus(socket: Duplex, status: KubeStatus): void {
  writeUpgradeAnswer(socket, status.code, JSON.stringify(status));
}

/** How long a refused WebSocket upgrade's answer is kept for the SPDY fallback that follows it. */
export const REMEMBER_MS = 10_000;

/** Recent WebSocket refusals by key (see the module comment); bounded, oldest dropped first. */
export class UpgradeRefusals {
  private readonly recent = new Map<string, { at: number; code: number; body: string; contentType: string }>();

  constructor(private readonly now: () => number = Date.now, private readonly max = 1000) {}

  /** Remembers the answer a WebSocket upgrade got. */
  remember(key: string, code: number, body: string, contentType = 'application/json'): void {
    this.recent.delete(key);
    this.recent.set(key, { at: this.now(), code, body, contentType });
    while (this.recent.size > this.max) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** The answer remembered for this key within REMEMBER_MS, once (a later SPDY attempt gets the SPDY refusal). */
  take(key: string): { code: number; body: string; contentType: string } | undefined {
    const hit = this.recent.get(key);
    this.recent.delete(key);
    if (!hit || this.now() - hit.at > REMEMBER_MS) return undefined;
    return { code: hit.code, body: hit.body, contentType: hit.contentType };
  }

  /** Answers a SPDY upgrade: the refusal its WebSocket attempt got, else the SPDY refusal. */
  answerSpdy(socket: Duplex, key: string): void {
    const earlier = this.take(key);
    if (earlier) writeUpgradeAnswer(socket, earlier.code, earlier.body, earlier.contentType);
    else writeUpgradeStatus(socket, spdyRefusal());
  }
}
