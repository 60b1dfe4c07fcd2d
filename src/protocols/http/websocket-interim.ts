/**
 * INTERIM stand-in for helper hd's src/protocols/http/websocket.ts (HTTP.md section 5), with the same signature,
 * until that file lands: every decided upgrade is refused with 501, so nothing is relayed unrecorded. The engine's
 * upgrade.ts imports relayWebSocket from here; the lead switches the import to websocket.js.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WardenError } from '../../errors.js';
import type { HttpWsCloseRecord, HttpWsMessageRecord } from './exchange-record.js';

/** What the relay needs (see HTTP.md section 5). */
export interface WebSocketRelayOptions {
  req: IncomingMessage; socket: Duplex; head: Buffer;
  upstreamUrl: string;
  upstreamHeaders: Record<string, string | string[]>;
  tls: { ca?: string; cert?: string; key?: string; servername?: string };
  maskServerText: ((text: string) => { text: string; hits: Record<string, number> }) | null;
  record(message: HttpWsMessageRecord): void;
  recordClose(close: HttpWsCloseRecord): void;
  requestId: string; recordLimit: number;
  activity(): void;
}

/** A relayed WebSocket. */
export interface WebSocketRelay { closed: Promise<void>; end(reason: string): void }

/** Refuses: WebSocket relaying is not in this build. */
export function relayWebSocket(_options: WebSocketRelayOptions): Promise<WebSocketRelay> {
  return Promise.reject(new WardenError('WARDEN_ERR_UNSUPPORTED', 'WebSocket relaying is not available in this build'));
}
