/**
 * exec, attach and port-forward over WebSocket, from the HTTPS server's `upgrade` event (the engine has
 * authenticated the caller and the pipeline has ALLOWED the request) to two relayed sockets:
 * 1. the caller's handshake is checked and its offered subprotocols narrowed to those Warden can inspect
 *    (channel-codec.ts: `v5.channel.k8s.io`, `v4.channel.k8s.io`; port-forward `v4.channel.k8s.io`); none: refused;
 * 2. the upstream WebSocket is opened first, offering only those, with the engine's credential headers;
 * 3. only then is the caller's handshake completed, with the subprotocol the API server chose. A refusal by the
 *    API server (its Status: pod not found, forbidden) reaches the caller as the API server sent it.
 * The relay itself is exec-relay.ts or portforward-relay.ts over a WsPair (back-pressure). Each refusal is also
 * remembered (upgrade-response.ts) for the SPDY fallback kubectl sends right after.
 * What it must never do: open a stream Warden cannot read (another subprotocol, SPDY, compression), or let the
 * caller's own headers reach the API server (the engine chose upstreamHeaders).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { PORT_FORWARD_PROTOCOLS, STREAM_PROTOCOLS, parseForwardPorts } from './channel-codec.js';
import { relayRemoteCommand } from './exec-relay.js';
import { relayPortForward } from './portforward-relay.js';
import type { RelayContext, StreamRelay } from './relay-context.js';
import { kubeStatus, type KubeStatus } from './errors.js';
import { UpgradeRefusals, writeUpgradeAnswer } from './upgrade-response.js';
import { WsPair } from './ws-pair.js';

export { isSpdyUpgrade, spdyRefusal, UpgradeRefusals } from './upgrade-response.js';

/** The largest message relayed either way (kubectl sends at most 32 KiB per message; a partial one is held whole). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Most bytes of an API server's refusal passed on to the caller. */
const MAX_REFUSAL_BODY = 64 * 1024;

/** TLS toward the API server (the target's CA, server name, client certificate). */
export interface RelayTls {
  ca?: string | Buffer;
  servername?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** What relayWebSocketUpgrade needs. */
export interface RelayOptions extends RelayContext {
  /** From the HTTPS server's `upgrade` event. */
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** The full `wss://` URL of the request on the API server. */
  upstreamUrl: string;
  /** Headers for the API server (its credential, impersonation); the caller's are never copied. */
  upstreamHeaders: Record<string, string | string[]>;
  tls: RelayTls;
  /** Where refusals are remembered for the SPDY fallback, under `refusalKey` (see upgrade-response.ts). */
  refusals?: UpgradeRefusals;
  refusalKey?: string;
  /** How long the API server may take to accept the WebSocket (default 30 s). */
  connectTimeoutMs?: number;
}

/** The kind of streaming request a path is. */
export function streamKind(pathname: string): 'exec' | 'attach' | 'portforward' | null {
  const m = /\/pods\/[^/]+\/(exec|attach|portforward)$/.exec(pathname);
  return m ? (m[1] as 'exec' | 'attach' | 'portforward') : null;
}

/** Relays one allowed upgrade; resolves once both handshakes are done or the caller was answered with a refusal. */
export async function relayWebSocketUpgrade(options: RelayOptions): Promise<StreamRelay> {
  const { request, socket, session, pipeline, command } = options;
  const started = Date.now();
  const url = new URL(options.upstreamUrl);
  const kind = streamKind(url.pathname);
  const refuse = (code: number, body: string, contentType = 'application/json'): StreamRelay => {
    writeUpgradeAnswer(socket, code, body, contentType);
    if (options.refusals && options.refusalKey) options.refusals.remember(options.refusalKey, code, body, contentType);
    let message = body.slice(0, 500);
    try {
      message = (JSON.parse(body) as KubeStatus).message ?? message;
    } catch { /* not a Status: its text as is */ }
    pipeline.onOutcome(session, command, { durationMs: Date.now() - started, tag: `HTTP ${code}`, error: { code: `HTTP ${code}`, message } });
    return { closed: Promise.resolve(), terminate: () => {} };
  };
  const refuseStatus = (status: KubeStatus): StreamRelay => refuse(status.code, JSON.stringify(status));
  if (kind === null) return refuseStatus(kubeStatus(400, 'BadRequest', 'warden: only exec, attach and portforward upgrade to a WebSocket'));
  const handshake = handshakeProblem(request);
  if (handshake) return refuseStatus(kubeStatus(400, 'BadRequest', `warden: ${handshake}`));
  const offered = offeredProtocols(request);
  const inspectable: readonly string[] = kind === 'portforward' ? PORT_FORWARD_PROTOCOLS : STREAM_PROTOCOLS;
  const acceptable = inspectable.filter((p) => offered.includes(p));
  if (acceptable.length === 0) return refuseStatus(noProtocolStatus(kind, offered));
  const ports = kind === 'portforward' ? parseForwardPorts(url.searchParams) : null;
  if (kind === 'portforward' && ports === null) {
    return refuseStatus(kubeStatus(400, 'BadRequest', 'warden: a port forward names its ports as ports=1..65535'));
  }

  const opened = await openUpstream(options, acceptable);
  if ('refusal' in opened) return refuse(opened.refusal.code, opened.refusal.body, opened.refusal.contentType);
  const upstream = opened.ws;
  if (socket.destroyed) {
    upstream.terminate();
    return refuseStatus(kubeStatus(400, 'BadRequest', 'the caller left before the stream opened'));
  }
  const caller = await acceptCaller(request, socket, options.head, upstream.protocol);
  if (caller === null) {
    upstream.terminate();
    return { closed: Promise.resolve(), terminate: () => {} };
  }
  const pair = new WsPair(caller, upstream);
  pipeline.onEvent(session, 'kubernetes.stream.start', { kind, subprotocol: upstream.protocol, path: url.pathname,
    ...(ports ? { ports } : {}), tty: isTrue(url.searchParams.get('tty')) });
  const relay = kind === 'portforward' ? relayPortForward(options, pair, ports!)
    : relayRemoteCommand(options, pair, { v5: upstream.protocol === 'v5.channel.k8s.io', tty: isTrue(url.searchParams.get('tty')) });
  upstream.resume();
  caller.resume();
  return relay;
}

/** Why a WebSocket handshake is invalid (ws would answer 400 itself; checked before anything is opened upstream). */
function handshakeProblem(request: IncomingMessage): string | null {
  if (request.method !== 'GET') return 'a WebSocket handshake is a GET';
  if ((request.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'only an upgrade to websocket is relayed';
  if (!/^[+/0-9A-Za-z]{22}==$/.test(request.headers['sec-websocket-key'] ?? '')) return 'invalid Sec-WebSocket-Key';
  const version = request.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'unsupported Sec-WebSocket-Version';
  return null;
}

/** The subprotocols the caller offered, in its order. */
function offeredProtocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

/** The refusal when the caller offered no subprotocol Warden can inspect. */
function noProtocolStatus(kind: string, offered: string[]): KubeStatus {
  const spdy = offered.some((p) => /spdy/i.test(p));
  const want = kind === 'portforward' ? PORT_FORWARD_PROTOCOLS.join(', ') : STREAM_PROTOCOLS.join(' or ');
  return kubeStatus(400, 'BadRequest', spdy
    ? `warden: ${kind} tunnelled over SPDY (${offered.join(', ')}) is not relayed: Warden cannot record it; it relays ${want}`
    : `warden: ${kind} is relayed only over ${want} (kubectl 1.30 or later); offered: ${offered.join(', ') || 'none'}`);
}

/** As the API server reads a boolean query parameter. */
function isTrue(value: string | null): boolean {
  return value !== null && !['', '0', 'f', 'false', 'n', 'no', 'off'].includes(value.toLowerCase());
}

type Opened = { ws: WebSocket } | { refusal: { code: number; body: string; contentType: string } };

/** Opens the WebSocket to the API server, or says what the caller should be answered instead. */
function openUpstream(options: RelayOptions, protocols: string[]): Promise<Opened> {
  return new Promise((resolve) => {
    // ws hands these options to https.request, which passes `servername` on to tls.connect (SNI and the name checked).
    const tls: TlsConnectionOptions = { ca: options.tls.ca, servername: options.tls.servername, cert: options.tls.cert,
      key: options.tls.key };
    const ws = new WebSocket(options.upstreamUrl, protocols, {
      headers: options.upstreamHeaders, ...tls, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES,
      followRedirects: false, handshakeTimeout: options.connectTimeoutMs ?? 30_000,
    } as WebSocket.ClientOptions);
    let settled = false;
    const settle = (value: Opened): void => {
      if (settled) return;
      settled = true;
      options.socket.off('close', callerLeft);
      resolve(value);
    };
    const callerLeft = (): void => {
      ws.terminate();
      settle({ refusal: { code: 400, body: '', contentType: 'text/plain' } });
    };
    options.socket.once('close', callerLeft);
    ws.once('open', () => {
      // Frames that came with the handshake answer are delivered on the next tick, before the relay listens: read
      // nothing until it does (resumed in relayWebSocketUpgrade).
      ws.pause();
      settle({ ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      // The API server answered without upgrading (its Status: not found, forbidden): the caller gets it as sent.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_REFUSAL_BODY) chunks.push(c.subarray(0, MAX_REFUSAL_BODY - size));
        size += c.length;
      });
      const done = (): void => {
        ws.terminate();
        settle({ refusal: { code: res.statusCode ?? 502, body: Buffer.concat(chunks).toString('utf8'),
          contentType: String(res.headers['content-type'] ?? 'application/json') } });
      };
      res.once('end', done);
      res.once('error', done);
      res.once('close', done);
    });
    ws.once('error', (err) => {
      const status = kubeStatus(502, 'InternalError', `warden: could not open the stream on the API server of target `
        + `"${options.session.target.name}": ${describe(err)}`);
      settle({ refusal: { code: 502, body: JSON.stringify(status), contentType: 'application/json' } });
    });
  });
}

/** A caller-safe description of an upstream connection failure (no address, no credential). */
function describe(err: Error & { code?: string }): string {
  if (err.code) return err.code;
  if (/timeout/i.test(err.message)) return 'timed out';
  if (/subprotocol/i.test(err.message)) return 'it chose no subprotocol Warden offered';
  return 'the connection failed';
}

/** Completes the caller's handshake with `protocol`; null when ws refused it (then ws has answered 400). */
function acceptCaller(request: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket | null> {
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES,
    clientTracking: false, handleProtocols: (offered) => (offered.has(protocol) ? protocol : false) });
  return new Promise((resolve) => {
    server.once('wsClientError', (_err, s) => {
      s.destroy();
      resolve(null);
    });
    server.handleUpgrade(request, socket, head, (ws) => {
      ws.pause(); // as for the upstream: nothing is read before the relay listens
      resolve(ws);
    });
  });
}
