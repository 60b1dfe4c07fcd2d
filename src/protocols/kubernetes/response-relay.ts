/**
 * Relays an API server's answer to the caller. Three ways, chosen before the first byte:
 * - passed through: streamed as it arrives, each chunk written at once (watch events and followed logs are never
 *   delayed), when no masking applies;
 * - Secret masking (the request may return Secret objects and no rule grants class `secrets`): a watch stream is
 *   masked event by event (one JSON document per line, each at most MAX_MASKED_EVENT bytes), any other answer is
 *   read whole (at most MAX_MASKED_RESPONSE bytes), masked, then sent with its new length;
 * - content masking (detectors and patterns of the session's rules): the bytes go through the shared streaming
 *   masker (src/masking/stream.ts), which holds back only what a later byte could still turn into a match.
 * Fail closed: an answer Warden must inspect but cannot (compressed, not JSON, too large) is refused with a Status,
 * never passed; past the first byte a failure cuts the connection instead.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { WardenError } from '../../errors.js';
import { StreamMasker } from '../../masking/stream.js';
import type { ResultMasking } from '../../session/pipeline.js';
import { SecretWatchMasker, type SecretScope } from './secret-masking.js';
import { maskedOrRefused, maskSecretsInText } from './secret-response.js';

/** Largest answer read whole to mask the Secrets in it. */
export const MAX_MASKED_RESPONSE = 64 * 1024 * 1024;
/** Largest single watch event masked. */
export const MAX_MASKED_EVENT = 16 * 1024 * 1024;

/** Response headers that describe one hop, never relayed. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-connection', 'set-cookie']);

/** How one answer is relayed. */
export interface RelayPlan {
  /** Secret values in the answer must be masked, and how to find them (see secret-masking.ts); null: no Secret masking. */
  maskSecrets: SecretScope | null;
  /** The session's masking rules, when any rule scans content. */
  content: ResultMasking | null;
  /** The request is a watch (the answer is a stream of JSON events). */
  watch: boolean;
  /** Extra response headers (a Warning naming the approval). */
  extraHeaders: Record<string, string[]>;
}

/** What the relay saw, for the recording. */
export interface RelayResult {
  status: number;
  bytes: number;
  /** Masked values, by rule, for the recording. */
  hits?: Record<string, number>;
}

/** The headers of an upstream answer as the caller gets them (hop-by-hop removed, length dropped when changed). */
function relayedHeaders(headers: Dispatcher.ResponseData['headers'], keepLength: boolean, extra: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || (!keepLength && name === 'content-length')) continue;
    out[name] = value;
  }
  for (const [name, values] of Object.entries(extra)) {
    const had = out[name];
    out[name] = [...(had === undefined ? [] : Array.isArray(had) ? had : [had]), ...values];
  }
  return out;
}

function cannotInspect(why: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `Warden must mask this answer but ${why}, so it was not passed on`);
}

/** Writes a chunk and waits for the caller to take it when the socket's buffer is full (backpressure). */
async function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (chunk.length === 0 || res.destroyed) return;
  if (!res.write(chunk)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
}

/** Relays `upstream` to `res` as `plan` says; throws a WardenError (before any byte is sent) when it must refuse. */
export async function relayResponse(upstream: Dispatcher.ResponseData, res: ServerResponse, plan: RelayPlan): Promise<RelayResult> {
  const contentType = String(upstream.headers['content-type'] ?? '');
  const encoding = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase();
  const inspect = plan.maskSecrets !== null || plan.content !== null;
  if (inspect && encoding !== 'identity') throw cannotInspect(`the API server compressed it (${encoding})`);
  // Content rules read text: a binary answer (protobuf, CBOR) despite the JSON-only Accept is refused, not guessed at.
  if (inspect && /protobuf|cbor|octet-stream/i.test(contentType)) throw cannotInspect(`it is binary (${contentType})`);
  const masker = plan.content === null ? null : StreamMasker.forRules(plan.content.rules, plan.content.hashKey);
  const result: RelayResult = { status: upstream.statusCode, bytes: 0 };
  if (plan.maskSecrets !== null) {
    if (!/^application\/json\b/i.test(contentType) && upstream.body !== null) {
      // An empty answer (a 204) has nothing to mask; anything else must be JSON.
      const first = await firstChunk(upstream.body);
      if (first !== null) throw cannotInspect(`it is not JSON (${contentType || 'no content type'})`);
      res.writeHead(upstream.statusCode, relayedHeaders(upstream.headers, true, plan.extraHeaders));
      res.end();
      return result;
    }
    if (plan.watch) return relayWatch(upstream, res, plan, plan.maskSecrets, masker, result);
    const whole = await readWhole(upstream.body, MAX_MASKED_RESPONSE);
    let out = Buffer.from(maskSecretsInText(whole, plan.maskSecrets), 'utf8');
    if (masker !== null) out = Buffer.concat([masker.push(out), masker.flush()]);
    const headers = relayedHeaders(upstream.headers, false, plan.extraHeaders);
    headers['content-length'] = String(out.length);
    res.writeHead(upstream.statusCode, headers);
    res.end(out);
    result.bytes = out.length;
    return withHits(result, masker);
  }
  res.writeHead(upstream.statusCode, relayedHeaders(upstream.headers, masker === null, plan.extraHeaders));
  res.flushHeaders();
  for await (const chunk of upstream.body) {
    const out = masker === null ? chunk as Buffer : masker.push(chunk as Buffer);
    result.bytes += out.length;
    await write(res, out);
  }
  if (masker !== null) await write(res, masker.flush());
  res.end();
  return withHits(result, masker);
}

/** A watch answer masked event by event: each line is one JSON event, relayed as soon as it is complete. */
async function relayWatch(upstream: Dispatcher.ResponseData, res: ServerResponse, plan: RelayPlan, scope: SecretScope,
  masker: StreamMasker | null, result: RelayResult): Promise<RelayResult> {
  res.writeHead(upstream.statusCode, relayedHeaders(upstream.headers, false, plan.extraHeaders));
  res.flushHeaders();
  const events = new SecretWatchMasker(scope, MAX_MASKED_EVENT);
  const emit = async (text: string) => {
    let out = Buffer.from(text, 'utf8');
    if (masker !== null && out.length > 0) out = Buffer.concat([masker.push(out), masker.flush()]);
    result.bytes += out.length;
    await write(res, out);
  };
  try {
    for await (const chunk of upstream.body) await emit(maskedOrRefused(events.push(chunk as Buffer)));
    await emit(maskedOrRefused(events.end()));
  } catch (err) {
    // Past the first byte no Status can be sent: the stream is cut rather than an event passed unmasked.
    res.destroy();
    throw err;
  }
  res.end();
  return withHits(result, masker);
}

function withHits(result: RelayResult, masker: StreamMasker | null): RelayResult {
  if (masker !== null && masker.hits.size > 0) result.hits = Object.fromEntries(masker.hits);
  return result;
}

async function firstChunk(body: Dispatcher.ResponseData['body']): Promise<Buffer | null> {
  for await (const chunk of body) {
    if ((chunk as Buffer).length > 0) {
      body.destroy();
      return chunk as Buffer;
    }
  }
  return null;
}

/** Reads a whole answer, refusing one past `limit` bytes. */
async function readWhole(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw cannotInspect(`it is larger than ${limit / 1024 / 1024} MiB`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
