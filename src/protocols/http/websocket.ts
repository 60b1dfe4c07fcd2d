/**
 * A WebSocket upgrade to an HTTP target, once the engine has authenticated the caller and the pipeline has allowed
 * the upgrade (`GET /path` judged read and write):
 * 1. the caller's handshake is checked as ws will check it (nothing is opened upstream for an invalid one);
 * 2. the upstream WebSocket is opened with the engine's URL (credential injected), headers and TLS settings,
 *    offering the caller's subprotocols;
 * 3. only then is the caller's upgrade completed (101) with the subprotocol the upstream chose;
 * 4. the two are relayed (websocket-bridge.ts): back-pressure, masking of upstream text, recording, closes.
 *
 * Who writes what to the caller's socket: when relayWebSocket rejects (always with a WardenError: invalid handshake,
 * upstream refusal, TLS failure, timeout, caller gone), it has written nothing to the socket and not destroyed it;
 * the engine answers its problem document and closes the socket. Once it resolves, the socket belongs to the relay
 * (ws wrote the 101): the engine only calls end() and waits for `closed`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpWsCloseRecord, HttpWsMessageRecord } from './exchange-record.js';
import { WebSocketBridge } from './websocket-bridge.js';
import { CONNECT_TIMEOUT_MS, CallerWatch, acceptCaller, checkCallerHandshake, openUpstream } from './websocket-handshake.js';

export { MAX_MESSAGE_BYTES } from './websocket-handshake.js';
export { CLOSE_DEADLINE_MS } from './websocket-bridge.js';

/** What relayWebSocket needs from the engine. */
export interface WebSocketRelayOptions {
  /** The caller's upgrade, from the listener's `upgrade` event. */
  req: IncomingMessage; socket: Duplex; head: Buffer;
  /** ws:// or wss:// with path and query (credential injected). Never quoted in an error. */
  upstreamUrl: string;
  /** Credential and static headers; no caller credential. Handshake headers (Sec-WebSocket-*, Upgrade) are ignored. */
  upstreamHeaders: Record<string, string | string[]>;
  tls: { ca?: string; cert?: string; key?: string; servername?: string };
  /** Masks a server-to-caller text message; null when no masking applies. Binary messages are refused (close 1008) when masking applies. */
  maskServerText: ((text: string) => { text: string; hits: Record<string, number> }) | null;
  /**
   * Overwrites the upstream credential in a server-to-caller message (text or binary, same length), before masking;
   * absent when no credential is injected.
   */
  scrubServer?: (data: Buffer) => Buffer;
  /** Called for every message relayed either way (text masked and cut to recordLimit bytes, binary by size). */
  record(message: HttpWsMessageRecord): void;
  /** Called once, when both sides are closed. */
  recordClose(close: HttpWsCloseRecord): void;
  requestId: string; recordLimit: number;
  /** Called when a real message passes either way (idle accounting). */
  activity(): void;
  /** How long the upstream may take to accept the WebSocket (default 30 s). */
  connectTimeoutMs?: number;
}

/** A relayed WebSocket. */
export interface WebSocketRelay {
  /** Resolves once both sides are closed and the close is recorded; never rejects. */
  closed: Promise<void>;
  /** Closes both sides with 1008 and `reason` (revocation, session kill); each is destroyed if not closed within 0.5 s. */
  end(reason: string): void;
}

/** Opens the upstream WebSocket first; rejects with a WardenError (the engine answers a problem document) when it cannot. */
export async function relayWebSocket(options: WebSocketRelayOptions): Promise<WebSocketRelay> {
  const { req, socket } = options;
  let head = options.head;
  const offered = checkCallerHandshake(req);
  // A socket error while the upstream opens must not crash the listener; ws listens for its own once it owns it.
  socket.on('error', () => {});
  const watch = new CallerWatch(socket, head);
  let upstream;
  try {
    upstream = await openUpstream({ url: options.upstreamUrl, headers: options.upstreamHeaders, tls: options.tls,
      protocols: offered, caller: watch, timeoutMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS });
  } finally {
    // Early bytes go to ws with head; on a refusal the socket is left paused for the engine's answer.
    head = watch.stop();
  }
  let caller;
  try {
    caller = acceptCaller(req, socket, head, upstream.protocol);
  } catch (err) {
    upstream.terminate();
    throw err;
  }
  const bridge = new WebSocketBridge(caller, upstream, options);
  bridge.start();
  return bridge;
}
