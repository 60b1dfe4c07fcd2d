/**
 * Records one exchange (HTTP.md section 6): the command's outcome (`pipeline.onOutcome`, tag `HTTP <status>`) and the
 * `http.exchange` event (exchange-record.ts) with the path and query as forwarded (never the injected credential),
 * headers without credentials or cookies, sizes, and bodies masked (maskTextBody) and cut to the recording limit.
 * A denied request is recorded by the
 * pipeline as a denial; only its exchange is added here.
 */
import type { IncomingMessage } from 'node:http';
import type { ResultMasking, SessionPipeline } from '../../session/pipeline.js';
import type { Command } from '../../session/types.js';
import type { ReadBody } from '../kubernetes/request-body.js';
import type { HttpExchangeRecord, RecordedBody } from './exchange-record.js';
import { maskTextBody } from './response-masking.js';
import { rawPairs, recordedHeaders } from './response-headers.js';
import type { HttpSession } from './sessions.js';

/** What the engine learnt of one exchange. */
export interface ExchangeFacts {
  requestId: string;
  /** performance.now() when it arrived. */
  started: number;
  startedAt: string;
  method: string;
  req: IncomingMessage;
  path: string;
  query: string;
  status: number;
  requestBytes: number;
  responseBytes: number;
  responseHeaders?: Array<[string, string]>;
  responseContentType?: string;
  responseHead?: Buffer;
  masked?: Record<string, number>;
  error?: string;
  command?: Command;
  body?: ReadBody;
  denied?: boolean;
  websocket?: boolean;
}

/**
 * A body as the recording keeps it: masked text cut to `limit`, or only why it is not kept. `bytes` must be the whole
 * body (a request body, masked here as a whole, so JSON field selectors apply) or, with `alreadyMasked`, the head of
 * an answer as the caller got it (masked by the relay's plan; detectors run again on the cut text).
 */
export function recordedBody(bytes: Buffer, total: number, contentType: string | undefined, masking: ResultMasking,
  limit: number, alreadyMasked: boolean): RecordedBody | undefined {
  if (total === 0) return undefined;
  const base: RecordedBody = contentType === undefined ? {} : { contentType };
  if (limit === 0) return { ...base, omitted: 'the recording limit is 0' };
  if (!alreadyMasked && bytes.length < total) return { ...base, omitted: 'larger than Warden reads before deciding' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(alreadyMasked ? bytes.subarray(0, limit) : bytes, { stream: alreadyMasked });
  } catch {
    return { ...base, omitted: 'binary' };
  }
  const result = maskTextBody(text, alreadyMasked ? 'text/plain' : contentType, masking);
  // Only a body the relay already masked may be kept when its text is not JSON (a rule on JSON fields found nothing).
  if (result.unmaskable && !alreadyMasked) return { ...base, omitted: 'not JSON, and a rule masks JSON fields' };
  const masked = result.text;
  const cut = masked.length > limit ? masked.slice(0, limit) : masked;
  return { ...base, text: cut, ...(total > limit || masked.length > limit ? { truncated: true } : {}) };
}

/** Records one exchange of a session. */
export function recordExchange(pipeline: SessionPipeline, http: HttpSession, facts: ExchangeFacts, limit: number): void {
  const durationMs = Math.round((performance.now() - facts.started) * 100) / 100;
  const { command } = facts;
  if (command === undefined) return;
  if (!facts.denied) {
    const failed = facts.status >= 400 || facts.error !== undefined;
    pipeline.onOutcome(http.session, command, { durationMs, tag: `HTTP ${facts.status}`,
      ...(failed ? { error: { code: `HTTP ${facts.status}`, message: facts.error ?? 'the upstream answered with an error status' } } : {}) });
  }
  const requestType = facts.req.headers['content-type'];
  const record: HttpExchangeRecord = {
    requestId: facts.requestId, startedAt: facts.startedAt, method: facts.method, path: facts.path, query: facts.query,
    requestHeaders: recordedHeaders(rawPairs(facts.req.rawHeaders)), status: facts.status,
    responseHeaders: facts.responseHeaders ?? [], durationMs, requestBytes: facts.requestBytes, responseBytes: facts.responseBytes,
    ...(facts.masked !== undefined ? { masked: facts.masked } : {}),
    ...(facts.error !== undefined ? { error: facts.error } : {}),
    ...(facts.websocket ? { websocket: true } : {}),
  };
  const body = facts.body;
  const masking = pipeline.masking(http.session);
  const requestBody = body === undefined ? undefined
    : recordedBody(body.head, body.complete ? body.head.length : Math.max(facts.requestBytes, body.head.length + 1), requestType,
      masking, limit, false);
  if (requestBody !== undefined) record.requestBody = requestBody;
  const responseBody = facts.responseHead === undefined ? undefined
    : recordedBody(facts.responseHead, facts.responseBytes, facts.responseContentType, masking, limit, true);
  if (responseBody !== undefined) record.responseBody = responseBody;
  pipeline.onEvent(http.session, 'http.exchange', record as unknown as Record<string, unknown>);
}
