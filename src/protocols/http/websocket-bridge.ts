/**
 * Two open WebSockets (the caller's and the upstream's) relayed into each other, message by message:
 * - back-pressure: when one side's send buffer passes HIGH_WATER bytes the other side is no longer read (its TCP
 *   window closes on the sender) until the buffer drains below LOW_WATER, so a caller that stops reading stalls the
 *   upstream and Warden's memory per WebSocket stays bounded (plus one message of at most 16 MiB being handled);
 * - messages are whole: ws reassembles fragments (within the size and fragment limits) and each is sent on as one;
 * - pings are answered by ws on each side and never relayed (each hop keeps its own liveness);
 * - masking: with a masker, upstream text is masked before the caller sees it and an upstream binary message ends
 *   the WebSocket (1008): Warden cannot inspect it, and never passes what it could not inspect;
 * - closes are passed on with their code and reason, except codes that only describe a close (1005 is passed on as a
 *   close without a code, 1006 as 1011 or 1001); a limit broken by one side (1009, 1007, 1002) is told to the other;
 * - end(): Warden's own close (revocation, kill), 1008 to both, each socket destroyed after CLOSE_DEADLINE_MS.
 * Recording and activity callbacks that throw end the WebSocket (fail closed) instead of crashing the listener.
 */
import WebSocket from 'ws';
import type { HttpWsCloseRecord, HttpWsMessageRecord } from './exchange-record.js';

/** Bytes queued toward one side before the other side is paused. */
export const HIGH_WATER = 1024 * 1024;
/** Bytes queued below which the paused side is read again. */
export const LOW_WATER = 256 * 1024;
/** How long a close handshake may take before the socket is destroyed (revocation ends a WebSocket within 1 s). */
export const CLOSE_DEADLINE_MS = 500;

/** Which end of the relay. */
export type Side = 'caller' | 'upstream';

/** A masker of upstream text (see WebSocketRelayOptions.maskServerText). */
export type TextMasker = (text: string) => { text: string; hits: Record<string, number> };

/** What the bridge reports to and needs from the engine. */
export interface BridgeHooks {
  maskServerText: TextMasker | null;
  scrubServer?: (data: Buffer) => Buffer;
  record(message: HttpWsMessageRecord): void;
  recordClose(close: HttpWsCloseRecord): void;
  requestId: string;
  recordLimit: number;
  activity(): void;
}

/** A close to send: no code means a close frame without a status (the peer sees 1005). */
interface Close { code?: number; reason: string }

/** Two open WebSockets relayed with back-pressure, masking and recording. Start it with start(). */
export class WebSocketBridge {
  /** Resolves once both sockets are closed and the close is recorded. Never rejects. */
  readonly closed: Promise<void>;
  /** Warden's own close of both sides (end, refused message, failed hook), once decided. */
  private ending: Close | null = null;
  /** The first side to close and its close as received. */
  private first: { side: Side; code: number; reason: string } | null = null;
  /** A limit a side broke (too big, invalid UTF-8, protocol error), told to the other side when it closes. */
  private readonly broken: Partial<Record<Side, Close>> = {};

  constructor(private readonly caller: WebSocket, private readonly upstream: WebSocket, private readonly hooks: BridgeHooks) {
    this.closed = Promise.all([this.watch('caller'), this.watch('upstream')]).then(() => this.recordEnd());
  }

  /** Starts relaying (both sockets were paused since their handshakes). */
  start(): void {
    this.caller.on('message', (data: WebSocket.RawData, binary: boolean) => this.relay('caller', toBuffer(data), binary));
    this.upstream.on('message', (data: WebSocket.RawData, binary: boolean) => this.relay('upstream', toBuffer(data), binary));
    this.caller.resume();
    this.upstream.resume();
  }

  /** Ends the WebSocket: 1008 with `reason` to both sides, both destroyed after CLOSE_DEADLINE_MS. Idempotent. */
  end(reason: string): void {
    this.shut({ code: 1008, reason });
  }

  /** How much is queued toward each side and which sides are not being read (back-pressure, for tests). */
  backlog(): { toCaller: number; toUpstream: number; callerPaused: boolean; upstreamPaused: boolean } {
    return { toCaller: this.caller.bufferedAmount, toUpstream: this.upstream.bufferedAmount,
      callerPaused: this.caller.isPaused, upstreamPaused: this.upstream.isPaused };
  }

  private socket(side: Side): WebSocket {
    return side === 'caller' ? this.caller : this.upstream;
  }

  /** Resolves when `side` has closed; passes its close on to the other side. */
  private watch(side: Side): Promise<void> {
    const ws = this.socket(side);
    ws.on('error', (err: Error & { code?: string }) => {
      const limit = brokenLimit(err.code);
      if (limit) this.broken[side] ??= limit;
    });
    return new Promise((resolve) => {
      const onClose = (code: number, reason: Buffer | string): void => {
        this.first ??= { side, code, reason: String(reason) };
        if (!this.ending) this.closeSide(otherSide(side), this.passedOn(side, code, String(reason)));
        resolve();
      };
      if (ws.readyState === WebSocket.CLOSED) onClose(1006, '');
      else ws.once('close', onClose);
    });
  }

  /** One message from `from`, sent on to the other side (or refused). */
  private relay(from: Side, received: Buffer, binary: boolean): void {
    if (this.ending) return; // Warden is closing: nothing more passes either way
    const masker = this.hooks.maskServerText;
    try {
      // An upstream that echoes Warden's credential (an echo service, an error) never shows it to the caller.
      const data = from === 'upstream' && this.hooks.scrubServer ? this.hooks.scrubServer(received) : received;
      if (from === 'upstream' && masker) {
        if (binary) {
          this.shut({ code: 1008, reason: 'warden: binary message refused: masking applies and Warden cannot inspect it' });
          return;
        }
        const masked = Buffer.from(masker(data.toString('utf8')).text, 'utf8');
        this.send('caller', masked, false);
        this.record('server', masked, false);
      } else {
        this.send(otherSide(from), data, binary);
        // The caller's own text goes upstream as sent; its recording is masked like everything recorded.
        const recorded = !binary && masker && from === 'caller' ? Buffer.from(masker(data.toString('utf8')).text, 'utf8') : data;
        this.record(from === 'caller' ? 'client' : 'server', recorded, binary, data.length);
      }
      this.hooks.activity();
    } catch {
      this.shut({ code: 1011, reason: 'warden: the message could not be masked or recorded' });
    }
  }

  /** Sends to `to`; pauses the other side while `to` is backed up, resumes it once drained. */
  private send(to: Side, data: Buffer, binary: boolean): void {
    const target = this.socket(to);
    const source = this.socket(otherSide(to));
    if (target.readyState !== WebSocket.OPEN) return;
    target.send(data, { binary }, () => {
      if (source.isPaused && !this.ending && target.bufferedAmount < LOW_WATER) source.resume();
    });
    if (target.bufferedAmount > HIGH_WATER && !source.isPaused) source.pause();
  }

  /** Records one message: text cut to the limit at a character boundary, binary by size only. */
  private record(direction: 'client' | 'server', data: Buffer, binary: boolean, bytes = data.length): void {
    const message: HttpWsMessageRecord = { requestId: this.hooks.requestId, direction, bytes, binary };
    if (!binary) {
      const cut = utf8Prefix(data, this.hooks.recordLimit);
      message.text = cut.toString('utf8');
      if (cut.length < data.length) message.truncated = true;
    }
    this.hooks.record(message);
  }

  /** Warden's own close of both sides; the first decision wins. */
  private shut(close: Close): void {
    if (this.ending) return;
    this.ending = { code: close.code, reason: fitReason(close.reason) };
    this.closeSide('caller', this.ending);
    this.closeSide('upstream', this.ending);
  }

  /** Closes one side (a paused socket is resumed so it can read the answer), destroyed after the deadline. */
  private closeSide(side: Side, close: Close): void {
    const ws = this.socket(side);
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.isPaused) ws.resume();
    try {
      if (close.code === undefined) ws.close();
      else ws.close(close.code, close.reason);
    } catch {
      ws.terminate();
    }
    setTimeout(() => ws.terminate(), CLOSE_DEADLINE_MS).unref();
  }

  /** The close the other side gets when `side` closed with `code` and `reason`. */
  private passedOn(side: Side, code: number, reason: string): Close {
    const broken = this.broken[side];
    if (broken) return broken;
    if (code === 1005) return { reason: '' };
    if (!sendable(code)) {
      return side === 'upstream' ? { code: 1011, reason: 'warden: the upstream connection was lost' }
        : { code: 1001, reason: 'warden: the caller connection was lost' };
    }
    // The caller's reason goes upstream as sent (its own words), the upstream's reaches the caller masked.
    return { code, reason: fitReason(side === 'upstream' ? this.maskedReason(reason) : reason) };
  }

  /** A close reason masked like a message (upstream ones before the caller sees them, both before recording). */
  private maskedReason(reason: string): string {
    const masker = this.hooks.maskServerText;
    if (!masker || reason === '') return reason;
    try {
      return masker(reason).text;
    } catch {
      return ''; // fail closed: a reason that could not be masked is dropped
    }
  }

  /** Records how the WebSocket ended: Warden's close, a broken limit, or the first close as received. */
  private recordEnd(): void {
    const first = this.first!;
    const close = this.ending ?? this.broken[first.side] ?? { code: first.code, reason: fitReason(this.maskedReason(first.reason)) };
    try {
      this.hooks.recordClose({ requestId: this.hooks.requestId, code: close.code ?? 1005, reason: close.reason });
    } catch { /* the recorder reports its own failures; the WebSocket is over either way */ }
  }
}

function otherSide(side: Side): Side {
  return side === 'caller' ? 'upstream' : 'caller';
}

/** The close a side earns by breaking a limit (ws has already closed it with this code), by ws's error code. */
function brokenLimit(code: string | undefined): Close | null {
  switch (code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH': return { code: 1009, reason: 'warden: message larger than 16 MiB' };
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS': return { code: 1008, reason: 'warden: message split into too many fragments' };
    case 'WS_ERR_INVALID_UTF8': return { code: 1007, reason: 'warden: text message is not valid UTF-8' };
    default: return code?.startsWith('WS_ERR_') ? { code: 1002, reason: 'warden: WebSocket protocol error' } : null;
  }
}

/** A close code a peer may send (1005, 1006 and 1015 only describe a close; 1004 is reserved). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** A close reason fits in 123 bytes (cut at a character boundary). */
function fitReason(reason: string): string {
  return utf8Prefix(Buffer.from(reason, 'utf8'), 123).toString('utf8');
}

/** The longest prefix of UTF-8 `data` of at most `limit` bytes that ends on a character boundary. */
function utf8Prefix(data: Buffer, limit: number): Buffer {
  if (data.length <= limit) return data;
  let end = Math.max(0, limit);
  while (end > 0 && (data[end] & 0xc0) === 0x80) end--;
  return data.subarray(0, end);
}

/** One Buffer from what ws hands a message listener. */
function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
