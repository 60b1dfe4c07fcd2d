/**
 * Two open WebSockets relayed into each other with back-pressure: when one side's send buffer passes HIGH_WATER
 * bytes, the other side stops being read (its TCP window closes on the sender) until the buffer drains below
 * LOW_WATER. A caller that stops reading therefore stalls only its own stream, and Warden's memory per stream stays
 * bounded. Also the shared ways a relay ends: a normal close passed on, and a forced end within a deadline.
 * Knows nothing of channels: the relays (exec-relay.ts, portforward-relay.ts) read and write the messages.
 */
import type WebSocket from 'ws';

/** Bytes queued toward one side before the other side is paused. */
export const HIGH_WATER = 1024 * 1024;
/** Bytes queued below which the paused side is read again. */
export const LOW_WATER = 256 * 1024;
/** How long a close handshake may take before the socket is destroyed (revocation must end a stream within 1 s). */
export const CLOSE_DEADLINE_MS = 500;

/** Which side a message came from or goes to. */
export type Side = 'caller' | 'upstream';

/** Two WebSockets relayed with back-pressure. */
export class WsPair {
  /** Resolves when both sockets are closed; says which closed first, with its close code. */
  readonly closed: Promise<{ first: Side; code: number }>;
  private first: { first: Side; code: number } | undefined;

  constructor(readonly caller: WebSocket, readonly upstream: WebSocket) {
    caller.on('error', () => {});
    upstream.on('error', () => {});
    const closedOne = (side: Side) => new Promise<void>((resolve) => {
      const ws = side === 'caller' ? caller : upstream;
      ws.once('close', (code: number) => {
        this.first ??= { first: side, code };
        resolve();
      });
    });
    this.closed = Promise.all([closedOne('caller'), closedOne('upstream')]).then(() => this.first!);
  }

  /** Sends one binary message to a side; pauses the other side while this one is backed up. */
  send(to: Side, data: Buffer): void {
    const ws = to === 'caller' ? this.caller : this.upstream;
    const other = to === 'caller' ? this.upstream : this.caller;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(data, { binary: true }, () => {
      if (other.isPaused && ws.bufferedAmount < LOW_WATER) other.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER && !other.isPaused) other.pause();
  }

  /** Calls `handler` with every message a side sends (as one Buffer). */
  onMessage(from: Side, handler: (data: Buffer) => void): void {
    const ws = from === 'caller' ? this.caller : this.upstream;
    ws.on('message', (data: WebSocket.RawData) => handler(toBuffer(data)));
  }

  /** Closes one side normally (passing a close code on where the protocol allows it), destroyed after the deadline. */
  close(side: Side, code: number, reason = ''): void {
    const ws = side === 'caller' ? this.caller : this.upstream;
    if (ws.readyState === ws.CLOSED) return;
    // A paused socket would never read the peer's close frame.
    if (ws.isPaused) ws.resume();
    try {
      ws.close(sendableCode(code), truncateReason(reason));
    } catch {
      ws.terminate();
    }
    setTimeout(() => ws.terminate(), CLOSE_DEADLINE_MS).unref();
  }

  /** Destroys one side at once. */
  destroy(side: Side): void {
    (side === 'caller' ? this.caller : this.upstream).terminate();
  }
}

/** A close code a peer may send (1005 and 1006 only describe a missing or abnormal close). */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ? code : 1000;
}

/** A close reason fits in 123 bytes. */
function truncateReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/** One Buffer from what ws hands a message listener. */
function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
