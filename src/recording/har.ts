/**
 * A recorded HTTP session as a HAR 1.2 document (http://www.softwareishard.com/blog/har-12-spec/), for a browser's
 * devtools: one entry per `http.exchange` event, WebSocket messages (`http.ws.message`) as Chrome's
 * `_webSocketMessages` on their upgrade's entry and the close (`http.ws.close`) as `_webSocketClose`.
 *
 * Built only from what the recording holds, so it carries no more than the recording does: no Authorization,
 * Cookie or Set-Cookie header (cookies are always empty), no injected credential, bodies already masked and cut to
 * the recording limit. Timings are not split by the recording: the whole duration is `wait`.
 */
import { STATUS_CODES } from 'node:http';
import type { HttpExchangeRecord, HttpWsCloseRecord, HttpWsMessageRecord, RecordedBody } from '../protocols/http/exchange-record.js';
import type { SessionEventRecord, SessionRecord } from '../store/types.js';

/** A name/value pair (headers, query parameters). */
export interface HarPair { name: string; value: string }

/** One WebSocket message in Chrome's HAR extension. */
export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  /** Seconds since the epoch. */
  time: number;
  /** 1 text, 2 binary (binary payloads are not recorded: `data` is empty). */
  opcode: 1 | 2;
  data: string;
}

/** One HAR entry (the fields Warden fills; `_`-prefixed ones are extensions). */
export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string; url: string; httpVersion: string; cookies: HarPair[]; headers: HarPair[]; queryString: HarPair[];
    postData?: { mimeType: string; text: string; comment?: string }; headersSize: number; bodySize: number;
  };
  response: {
    status: number; statusText: string; httpVersion: string; cookies: HarPair[]; headers: HarPair[];
    content: { size: number; mimeType: string; text?: string; comment?: string }; redirectURL: string;
    headersSize: number; bodySize: number; _error?: string;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  comment?: string;
  _requestId: string;
  _masked?: Record<string, number>;
  _resourceType?: 'websocket';
  _webSocketMessages?: HarWebSocketMessage[];
  _webSocketClose?: { code: number; reason: string };
}

/** A HAR 1.2 document. */
export interface Har {
  log: { version: '1.2'; creator: { name: string; version: string }; comment: string; entries: HarEntry[] };
}

/** Options of buildHar. */
export interface HarOptions {
  /** The target's URL the recorded paths are relative to (default `http://<target name>`). */
  baseUrl?: string;
  /** Warden's version, for `log.creator`. */
  version: string;
}

/** The request URL: the target URL's path, then the recorded path (as the engine forwards it), then the query. */
export function entryUrl(baseUrl: string, path: string, query: string): string {
  const base = new URL(baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${prefix}${path}${query ? `?${query}` : ''}`;
}

/** Query parameters as HAR pairs, decoded (a malformed escape is kept as sent). */
function queryPairs(query: string): HarPair[] {
  return query === '' ? [] : query.split('&').map((part) => {
    const eq = part.indexOf('=');
    const [name, value] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    const decode = (s: string): string => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
    return { name: decode(name), value: decode(value) };
  });
}

const pairs = (headers: Array<[string, string]>): HarPair[] => headers.map(([name, value]) => ({ name, value }));

function header(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/** Why a body's text is absent or short, for a HAR comment. */
function bodyComment(body: RecordedBody | undefined): string | undefined {
  if (body?.omitted) return `body not recorded: ${body.omitted}`;
  if (body?.truncated) return 'body cut to the recording limit';
  return undefined;
}

function exchangeEntry(x: HttpExchangeRecord, baseUrl: string): HarEntry {
  const requestType = x.requestBody?.contentType ?? header(x.requestHeaders, 'content-type') ?? '';
  const responseType = x.responseBody?.contentType ?? header(x.responseHeaders, 'content-type') ?? 'x-unknown';
  const postComment = bodyComment(x.requestBody);
  const contentComment = bodyComment(x.responseBody);
  const hasRequestBody = x.requestBytes > 0 || x.requestBody !== undefined;
  return {
    startedDateTime: x.startedAt,
    time: x.durationMs,
    request: {
      method: x.method, url: entryUrl(baseUrl, x.path, x.query), httpVersion: 'HTTP/1.1', cookies: [],
      headers: pairs(x.requestHeaders), queryString: queryPairs(x.query),
      ...(hasRequestBody ? { postData: { mimeType: requestType, text: x.requestBody?.text ?? '', ...(postComment ? { comment: postComment } : {}) } } : {}),
      headersSize: -1, bodySize: x.requestBytes,
    },
    response: {
      status: x.status, statusText: STATUS_CODES[x.status] ?? '', httpVersion: 'HTTP/1.1', cookies: [],
      headers: pairs(x.responseHeaders),
      content: { size: x.responseBytes, mimeType: responseType, ...(x.responseBody?.text !== undefined ? { text: x.responseBody.text } : {}),
        ...(contentComment ? { comment: contentComment } : {}) },
      redirectURL: header(x.responseHeaders, 'location') ?? '', headersSize: -1, bodySize: x.responseBytes,
      ...(x.error ? { _error: x.error } : {}),
    },
    cache: {},
    timings: { send: 0, wait: x.durationMs, receive: 0 },
    ...(x.error ? { comment: x.error } : {}),
    _requestId: x.requestId,
    ...(x.masked && Object.keys(x.masked).length > 0 ? { _masked: x.masked } : {}),
    ...(x.websocket ? { _resourceType: 'websocket' as const, _webSocketMessages: [] } : {}),
  };
}

/** Builds the HAR document of one session from its recorded events (other event types are ignored). */
export function buildHar(session: SessionRecord, events: SessionEventRecord[], options: HarOptions): Har {
  const baseUrl = options.baseUrl ?? `http://${session.target}`;
  const entries: HarEntry[] = [];
  const byRequest = new Map<string, HarEntry>();
  // Two passes: the engine records a WebSocket's upgrade exchange when the socket ends, after its messages.
  for (const e of events) {
    if (e.type !== 'http.exchange') continue;
    const entry = exchangeEntry(e.data as unknown as HttpExchangeRecord, baseUrl);
    entries.push(entry);
    byRequest.set(entry._requestId, entry);
  }
  for (const e of events) {
    if (e.type === 'http.ws.message') {
      const m = e.data as unknown as HttpWsMessageRecord;
      byRequest.get(m.requestId)?._webSocketMessages?.push({
        type: m.direction === 'client' ? 'send' : 'receive', time: Date.parse(e.at) / 1000,
        opcode: m.binary ? 2 : 1, data: m.binary ? '' : m.text ?? '',
      });
    } else if (e.type === 'http.ws.close') {
      const c = e.data as unknown as HttpWsCloseRecord;
      const entry = byRequest.get(c.requestId);
      if (entry?._webSocketMessages) entry._webSocketClose = { code: c.code, reason: c.reason };
    }
  }
  entries.sort((a, b) => Date.parse(a.startedDateTime) - Date.parse(b.startedDateTime));
  return {
    log: {
      version: '1.2',
      creator: { name: 'Warden', version: options.version },
      comment: `session ${session.id}: ${session.subject} to ${session.target}, started ${session.startedAt}`,
      entries,
    },
  };
}
