/**
 * The two handshakes of a relayed WebSocket, in the order that keeps a refusal answerable: the upstream WebSocket is
 * opened first (with the engine's credential headers and TLS settings, offering the caller's subprotocols), and only
 * once it is open is the caller's upgrade completed with the subprotocol the upstream chose.
 *
 * Who writes what on the caller's socket: until acceptCaller succeeds nothing here writes to it or destroys it, so
 * every refusal (a WardenError) leaves the socket to the engine, which answers a problem document and closes it.
 * The one exception is a caller that left while the upstream was opening: its socket is already closed and the
 * engine's answer goes nowhere (harmless).
 * Nothing here may put the upstream URL in an error: its query can hold the injected credential.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { WardenError } from '../../errors.js';

/** The largest message relayed either way; a larger one closes the stream with 1009 (also after decompression). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The most frames one message may be split into (bounds the receiver's bookkeeping of a fragmented message). */
export const MAX_FRAGMENTS = 16 * 1024;
/** How long the upstream may take to accept the WebSocket, by default. */
export const CONNECT_TIMEOUT_MS = 30_000;

/** The options shared by both of Warden's WebSockets of one relay (ws negotiates permessage-deflate per side). */
const SOCKET_LIMITS = { maxPayload: MAX_MESSAGE_BYTES, maxFragments: MAX_FRAGMENTS, perMessageDeflate: true } as const;

/** Headers ws writes itself; a copy in the engine's headers would make the upstream handshake invalid. */
const HANDSHAKE_HEADERS = new Set(['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version',
  'sec-websocket-protocol', 'sec-websocket-extensions', 'sec-websocket-accept']);

/** A subprotocol name is an HTTP token (RFC 6455 section 4.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What openUpstream needs. */
export interface UpstreamHandshake {
  url: string;
  headers: Record<string, string | string[]>;
  tls: { ca?: string; cert?: string; key?: string; servername?: string };
  protocols: string[];
  /** The caller's socket: when it closes first, the upstream attempt is abandoned. */
  callerSocket: Duplex;
  timeoutMs: number;
}

/**
 * Checks the caller's upgrade request the way ws will when completing it, so that a handshake ws would refuse is
 * refused before anything is opened upstream. Returns the offered subprotocols in the caller's order.
 */
export function checkCallerHandshake(req: IncomingMessage): string[] {
  const bad = (why: string): never => { throw new WardenError('WARDEN_ERR_BAD_REQUEST', `invalid WebSocket handshake: ${why}`); };
  if (req.method !== 'GET') bad('a WebSocket handshake is a GET');
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') bad('only an upgrade to websocket is relayed');
  if (!/^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '')) bad('missing or invalid Sec-WebSocket-Key');
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') bad('missing or unsupported Sec-WebSocket-Version');
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  const offered = header.split(',').map((p) => p.trim());
  if (offered.some((p) => !TOKEN.test(p)) || new Set(offered).size !== offered.length) bad('invalid Sec-WebSocket-Protocol');
  return offered;
}

/** Opens the upstream WebSocket, paused (nothing is read before the relay listens); rejects with a WardenError. */
export function openUpstream(h: UpstreamHandshake): Promise<WebSocket> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(h.headers)) if (!HANDSHAKE_HEADERS.has(name.toLowerCase())) headers[name] = value;
  let ws: WebSocket;
  try {
    // ws hands the TLS options to https.request and on to tls.connect (`servername`: SNI and the name checked).
    // ws hands `headers` to http.request as they are, so a repeated header (an array) is sent as several lines.
    ws = new WebSocket(h.url, h.protocols, { ...SOCKET_LIMITS, headers: headers as Record<string, string>, ca: h.tls.ca, cert: h.tls.cert, key: h.tls.key,
      servername: h.tls.servername, followRedirects: false, handshakeTimeout: h.timeoutMs } as WebSocket.ClientOptions);
  } catch {
    // ws's message quotes the URL (and so the credential in its query): never passed on.
    return Promise.reject(new WardenError('WARDEN_ERR_BAD_REQUEST', 'the upstream WebSocket URL is not valid'));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: WardenError): void => {
      if (settled) return;
      settled = true;
      h.callerSocket.off('close', callerLeft);
      ws.terminate();
      reject(error);
    };
    const callerLeft = (): void => fail(new WardenError('WARDEN_ERR_BAD_REQUEST', 'the caller left before the WebSocket opened'));
    h.callerSocket.once('close', callerLeft);
    // Errors after the open belong to the relay, which listens from then on; this one keeps ws from throwing.
    ws.on('error', (err: Error & { code?: string }) => fail(upstreamError(err)));
    ws.once('unexpected-response', (_req, res) => {
      // The upstream answered without upgrading. Its body and headers are not passed on: a redirect or an error page
      // can quote the injected credential. The caller learns the status only.
      res.resume();
      const status = res.statusCode ?? 0;
      fail(new WardenError(status === 401 || status === 403 ? 'WARDEN_ERR_UPSTREAM_AUTH' : 'WARDEN_ERR_UPSTREAM_PROTOCOL',
        `the upstream answered HTTP ${status} instead of accepting the WebSocket`));
    });
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      h.callerSocket.off('close', callerLeft);
      ws.pause();
      resolve(ws);
    });
  });
}

/** A caller-safe WardenError for a failed upstream handshake (codes, never addresses or URLs). */
function upstreamError(err: Error & { code?: string }): WardenError {
  const code = err.code ?? '';
  const say = (c: 'WARDEN_ERR_UPSTREAM_UNAVAILABLE' | 'WARDEN_ERR_UPSTREAM_PROTOCOL', message: string): WardenError =>
    new WardenError(c, `could not open the WebSocket on the upstream: ${message}`, { detail: `${code} ${err.message}`.trim() });
  if (/timed out/i.test(err.message)) return say('WARDEN_ERR_UPSTREAM_UNAVAILABLE', 'it did not answer in time');
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|EPROTO/.test(code)) return say('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `its TLS certificate was refused (${code})`);
  if (/subprotocol/i.test(err.message)) return say('WARDEN_ERR_UPSTREAM_PROTOCOL', 'it chose no subprotocol the caller offered');
  if (code.startsWith('E')) return say('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `the connection failed (${code})`);
  return say('WARDEN_ERR_UPSTREAM_PROTOCOL', 'its handshake answer was not a valid WebSocket upgrade');
}

/**
 * Completes the caller's upgrade (101) with `protocol` (the upstream's choice, '' for none), paused. Synchronous: ws
 * calls back within handleUpgrade when it accepts; when it does not, it wrote nothing (wsClientError is listened
 * to) or the socket had already closed, and a WardenError is thrown for the engine.
 */
export function acceptCaller(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): WebSocket {
  if (socket.destroyed || !socket.readable || !socket.writable) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'the caller left before the WebSocket opened');
  }
  const server = new WebSocketServer({ ...SOCKET_LIMITS, noServer: true, clientTracking: false,
    handleProtocols: (offered) => (protocol !== '' && offered.has(protocol) ? protocol : false) });
  const outcome: { ws?: WebSocket; refusal?: string } = {};
  server.on('wsClientError', (err) => { outcome.refusal = err.message; });
  server.handleUpgrade(req, socket, head, (ws) => {
    ws.pause();
    outcome.ws = ws;
  });
  if (outcome.ws) return outcome.ws;
  throw new WardenError('WARDEN_ERR_BAD_REQUEST', outcome.refusal ? `invalid WebSocket handshake: ${outcome.refusal}`
    : 'the caller left before the WebSocket opened');
}
