/**
 * What the recording keeps of one HTTP exchange (the `http.exchange` session event) and of WebSocket traffic
 * (`http.ws.message`, `http.ws.close`): the engine writes them, `warden sessions show` lists them and the HAR export
 * (src/recording/har.ts) turns them into HAR 1.2 entries. Never holds `Authorization`, `Proxy-Authorization`,
 * `Cookie` or `Set-Cookie`, the injected credential or a Warden token; bodies are masked before they get here.
 * Types only.
 */

/** A body as recorded: masked text cut to the listener's limit, or a description of a body not kept as text. */
export interface RecordedBody {
  /** The masked text (cut to the recording limit); absent when the body was binary or not kept. */
  text?: string;
  /** True when `text` is shorter than the body. */
  truncated?: boolean;
  /** Why the body is not shown (binary, compressed and not decoded, over the limit with limit 0). */
  omitted?: string;
  contentType?: string;
}

/** The `http.exchange` event: one request and its answer. */
export interface HttpExchangeRecord {
  /** Warden's id of the request (also the `X-Warden-Request-Id` answer header). */
  requestId: string;
  /** ISO time the request arrived. */
  startedAt: string;
  method: string;
  /** The normalised path as forwarded (relative to the target's URL). */
  path: string;
  /** The query as forwarded, without the injected credential ('' when none). */
  query: string;
  /** Selected request headers, in order (never credentials or cookies). */
  requestHeaders: Array<[string, string]>;
  /** The status the caller got (Warden's own 4xx/5xx when the request never reached the upstream). */
  status: number;
  /** Selected response headers, in order (never Set-Cookie). */
  responseHeaders: Array<[string, string]>;
  durationMs: number;
  /** Body bytes received from the caller and sent to the caller. */
  requestBytes: number;
  responseBytes: number;
  requestBody?: RecordedBody;
  responseBody?: RecordedBody;
  /** Masked values by rule or detector, when masking applied. */
  masked?: Record<string, number>;
  /** Why the exchange failed (caller's words), when it did. */
  error?: string;
  /** True for a WebSocket upgrade (its messages follow as `http.ws.message`). */
  websocket?: boolean;
}

/** The `http.ws.message` event: one WebSocket message either way. */
export interface HttpWsMessageRecord {
  requestId: string;
  direction: 'client' | 'server';
  /** The masked text of a text message (cut to the recording limit). */
  text?: string;
  truncated?: boolean;
  bytes: number;
  binary: boolean;
}

/** The `http.ws.close` event: how a relayed WebSocket ended. */
export interface HttpWsCloseRecord {
  requestId: string;
  code: number;
  reason: string;
}
