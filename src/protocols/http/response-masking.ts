/**
 * How an HTTP body is masked, decided from its headers before the first byte (HTTP.md section 4): passed untouched
 * when no mask item applies to HTTP (see src/masking/json-spec.ts: items with `fields`, `detectors` or `patterns`),
 * refused when one applies and Warden cannot inspect the body, else masked streaming.
 *
 * What Warden inspects (anything else is refused: fail closed):
 * - JSON: application/json, text/json, any `+json` type (field selectors and detectors, src/masking/json-stream.ts);
 *   NDJSON / JSON lines (application/x-ndjson, application/ndjson, application/jsonl) as a sequence of values;
 * - server-sent events, text/event-stream: each event's data as JSON, else as text (src/masking/sse-stream.ts);
 * - text: text/*, application/xml and `+xml`, application/javascript, application/x-www-form-urlencoded,
 *   application/yaml, application/graphql (detectors and patterns across chunk boundaries; field selectors select
 *   nothing in text), in UTF-8 or an ASCII-compatible charset (ISO-8859-*, windows-125*, US-ASCII).
 * A body with no Content-Type, a binary type, another charset (UTF-16), a partial body (Content-Range) or a
 * Content-Encoding other than gzip, x-gzip, deflate, br or identity is refused. A masked body is decoded and sent
 * uncompressed; its Content-Length, Content-Encoding, ETag, Content-MD5 and digests are dropped (they describe the
 * upstream's bytes), and Accept-Ranges too (ranges of the masked body do not exist). An empty body passes.
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { httpMaskSpec, maskCounted, type HttpMaskSpec } from '../../masking/json-spec.js';
import { JsonMasker, maskJsonText } from '../../masking/json-stream.js';
import { maskingStream, type ChunkMasker, type MaskingStream } from '../../masking/masking-transform.js';
import { SseMasker } from '../../masking/sse-stream.js';
import { passMasker, textMasker } from '../../masking/text-stream.js';
import type { ResultMasking } from '../../session/pipeline.js';

export type { MaskingStream } from '../../masking/masking-transform.js';

/** What happens to one body. */
export type BodyPlan =
  | { kind: 'pass' }
  | { kind: 'refuse'; reason: string }
  | {
    kind: 'mask';
    /** A fresh masking stream for this body: decodes, masks, emits identity bytes. */
    open(): MaskingStream;
    /** The response headers as the caller gets them (length, encoding, validators and digests dropped). */
    headers(h: Record<string, string | string[]>): Record<string, string | string[]>;
  };

type BodyKind = 'json' | 'ndjson' | 'sse' | 'text';

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const DROPPED = new Set(['content-length', 'content-encoding', 'etag', 'content-md5', 'digest', 'content-digest',
  'repr-digest', 'accept-ranges']);

const TEXT_TYPES = new Set(['application/xml', 'application/javascript', 'application/ecmascript',
  'application/x-www-form-urlencoded', 'application/yaml', 'application/x-yaml', 'application/graphql']);
const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines']);
const ASCII_CHARSETS = /^(?:utf-?8|us-ascii|ascii|iso-8859-\d+|latin1|windows-125\d)$/;

/** The media type (lower-case, no parameters) and charset of a Content-Type value. */
function mediaType(value: string | undefined): { type: string; charset: string | null } {
  if (value === undefined) return { type: '', charset: null };
  const [type, ...params] = value.split(';');
  let charset: string | null = null;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";\s]+)"?\s*$/i.exec(p);
    if (m) charset = m[1].toLowerCase();
  }
  return { type: type.trim().toLowerCase(), charset };
}

function bodyKind(type: string): BodyKind | null {
  if (type === 'application/json' || type === 'text/json' || type.endsWith('+json')) return 'json';
  if (NDJSON_TYPES.has(type)) return 'ndjson';
  if (type === 'text/event-stream') return 'sse';
  if (type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+xml')) return 'text';
  return null;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * A text masked by maskTextBody. `unmaskable`: a rule masks JSON fields and the text is not JSON, so values it masks
 * could remain under other names: the text must not be passed on or recorded (detectors were applied to `text`).
 */
export interface MaskedText {
  text: string;
  hits: Record<string, number>;
  unmaskable?: true;
}

/** The plan for a body with these (lower-case named) headers under the session's masking. */
export function planResponseBody(masking: ResultMasking, headers: Record<string, string | string[] | undefined>): BodyPlan {
  const spec = httpMaskSpec(masking.rules);
  if (spec === null) return { kind: 'pass' };
  if (one(headers['content-length'])?.trim() === '0') return { kind: 'pass' };
  if (headers['content-range'] !== undefined) return refuse('it is a partial body (Content-Range)');
  const codings = (one(headers['content-encoding']) ?? '').split(',').map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  const unknown = codings.find((c) => DECODERS[c] === undefined);
  if (unknown !== undefined) return refuse(`its Content-Encoding ${unknown} is not one Warden decodes`);
  const { type, charset } = mediaType(one(headers['content-type']));
  const kind = bodyKind(type);
  if (kind === null) return refuse(type === '' ? 'it has no Content-Type' : `Warden cannot inspect ${type} content`);
  if (charset !== null && !ASCII_CHARSETS.test(charset)) return refuse(`Warden cannot inspect text in charset ${charset}`);
  // Field selectors find values only in JSON: a text body (JSON served as text/html, CSV, XML, JSONP) may hold the
  // same values under other names, so it is refused rather than passed with only the detectors applied.
  if (kind === 'text' && spec.matcher !== null) return refuse(`a rule masks JSON fields and this is ${type}, not JSON`);
  const hashKey = masking.hashKey;
  return {
    kind: 'mask',
    // Content-Encoding lists codings in the order applied: decode the last one first.
    open: () => maskingStream(masker(kind, spec, hashKey), codings.slice().reverse().map((c) => DECODERS[c]())),
    headers: (h) => Object.fromEntries(Object.entries(h).filter(([name]) => !DROPPED.has(name.toLowerCase()))),
  };
}

function refuse(why: string): BodyPlan {
  return { kind: 'refuse', reason: `a mask rule applies to this response but ${why}, so Warden does not pass it on` };
}

function masker(kind: BodyKind, spec: HttpMaskSpec, hashKey: Buffer): ChunkMasker {
  if (kind === 'sse') return new SseMasker(spec, hashKey);
  if (kind === 'text') return spec.content === null ? passMasker() : textMasker(spec.content, hashKey);
  const json = new JsonMasker(spec, hashKey, { sequence: kind === 'ndjson' });
  return { push: (chunk) => json.push(chunk), end: () => json.end(), hits: () => ({ ...json.hits }) };
}

/**
 * A whole text masked (a WebSocket text message, a recorded request or response body): as JSON (field selectors and
 * detectors) when the content type is JSON or absent and the text is valid JSON, else with detectors and patterns.
 */
export function maskTextBody(text: string, contentType: string | undefined, masking: ResultMasking): MaskedText {
  const hits: Record<string, number> = {};
  const spec = httpMaskSpec(masking.rules);
  if (spec === null || text.length === 0) return { text, hits };
  const kind = contentType === undefined ? 'json' : bodyKind(mediaType(contentType).type);
  if (kind === 'json' || kind === 'ndjson') {
    const json = maskJsonText(text, spec, masking.hashKey, hits, { sequence: kind === 'ndjson' });
    if (json !== null) return { text: json, hits };
  }
  // Not JSON (or not valid JSON): every detector and pattern still applies, but a selector finds nothing, so the text
  // may still hold a value a field rule masks: `unmaskable` tells the caller to withhold it.
  const masked = spec.content === null ? text : maskCounted(text, spec.content, masking.hashKey, hits);
  return spec.matcher === null ? { text: masked, hits } : { text: masked, hits, unmaskable: true };
}
