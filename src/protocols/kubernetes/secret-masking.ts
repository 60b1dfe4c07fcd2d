/**
 * Masks Secret values in Kubernetes JSON: responses (a Secret, a SecretList, a `List` of mixed items, a Table with
 * `rows[].object`, watch events as they stream) and write bodies before they are recorded (`kubectl create secret`,
 * merge and JSON patches). Pure functions, no I/O; the engine decides when they apply (every response and recorded
 * body unless a rule grants class `secrets`) and turns a failure into a refusal.
 *
 * What is masked:
 * - every value of a Secret's `data` (base64 bytes) becomes MASKED_BASE64, the base64 of `[REDACTED]`, so
 *   `kubectl get secret x -o jsonpath='{.data.password}' | base64 -d` prints `[REDACTED]`; every value of
 *   `stringData` becomes `[REDACTED]`. One fixed mask for every value hides each value's length (`kubectl describe`
 *   shows 10 bytes for all); key names stay visible (they are visible to `kubectl describe` with RBAC `list` too);
 *   null values stay null;
 * - the `kubectl.kubernetes.io/last-applied-configuration` annotation (it holds the whole applied object, data
 *   included) is parsed and masked the same way, or replaced by `[REDACTED]` when it is not JSON;
 * - in a JSON patch of a Secret, each operation's `value` as the part of a Secret its `path` puts it at.
 * Which objects are Secrets: with scope `secrets` (the request's resource is `core/secrets`, any verb or
 * subresource, so a Table of PartialObjectMetadata or a Status is covered too) every object in the document is
 * treated as one, so `data` and `stringData` are masked wherever they are; with scope `any` (every other request)
 * objects whose `kind` is `Secret`, the items of a `SecretList`, and Secrets inside last-applied annotations.
 * Key names match case-insensitively (`Data` is masked too: some Go decoders match struct fields that way).
 *
 * Why parse and re-serialise: the output is built from what JSON.parse read, so nothing JSON.parse did not see can
 * reach the caller. JSON.parse decodes `\u0064ata` to `data` and keeps the last of duplicate keys, as Go's decoder
 * does, and the re-serialised text holds that key once: a duplicated `data` cannot carry a second, unmasked value
 * past the masker. When nothing needed masking the input text is returned unchanged (byte for byte). Input that is
 * not JSON (or not UTF-8, or a watch event longer than the limit) is a failure, never passed through.
 */

import type { KubeRequestInfo } from '../../analysis/kube/request-info.js';

/** The text a masked value shows. */
export const MASKED_TEXT = '[REDACTED]';
/** A masked `data` value: valid base64 of MASKED_TEXT. */
export const MASKED_BASE64 = Buffer.from(MASKED_TEXT, 'utf8').toString('base64');
/** The annotation kubectl apply keeps the whole applied object in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Which objects count as Secrets (see the module comment). */
export type SecretScope = 'secrets' | 'any';

/**
 * The scope for a request's response and recorded body, from its analysis' detail (`KubeUnitDetail.info`): `secrets`
 * when its resource is core `secrets` (any verb or subresource), and for a request Warden could not parse (no info:
 * it may be anything); `any` otherwise.
 */
export function secretScopeFor(info: KubeRequestInfo | undefined): SecretScope {
  if (info === undefined) return 'secrets';
  return info.resourceRequest && info.apiGroup === '' && info.resource === 'secrets' ? 'secrets' : 'any';
}

/** The masked text, or why the input cannot be masked (the engine refuses the response or drops the body). */
export type SecretMaskResult = { ok: true; text: string; masked: boolean } | { ok: false; error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Mutable state of one masking pass. */
interface Pass {
  masked: boolean;
}

/** Masks one JSON document (a response body or a write body) in `scope`. */
export function maskSecretJson(input: string | Uint8Array, scope: SecretScope): SecretMaskResult {
  let text: string;
  try {
    text = typeof input === 'string' ? input : utf8.decode(input);
  } catch {
    return { ok: false, error: 'the body is not UTF-8' };
  }
  let root: Json;
  try {
    root = JSON.parse(text) as Json;
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
  const pass: Pass = { masked: false };
  try {
    root = maskDocument(root, scope, pass);
  } catch {
    return { ok: false, error: `the body nests deeper than ${MAX_DEPTH} levels` };
  }
  return pass.masked ? { ok: true, text: JSON.stringify(root), masked: true } : { ok: true, text, masked: false };
}

function maskDocument(root: Json, scope: SecretScope, pass: Pass): Json {
  if (Array.isArray(root) && scope === 'secrets') return root.map((item) => maskPatchOperation(item, pass));
  return walk(root, scope === 'secrets', pass, 0);
}

/** The deepest nesting walked (Kubernetes objects nest a few dozen levels); deeper input is a failure. */
const MAX_DEPTH = 512;

/** Walks `value`; `secret` is true when every object here is to be treated as a Secret. */
function walk(value: Json, secret: boolean, pass: Pass, depth: number): Json {
  if (depth > MAX_DEPTH) throw new RangeError('JSON nested too deeply');
  if (Array.isArray(value)) return value.map((item) => walk(item, secret, pass, depth + 1));
  if (!isObject(value)) return value;
  const kind = kindOf(value);
  const isSecret = secret || kind === 'secret';
  const childrenSecret = isSecret || kind === 'secretlist';
  for (const key of Object.keys(value)) {
    const lower = key.toLowerCase();
    if (isSecret && (lower === 'data' || lower === 'stringdata')) {
      value[key] = maskValues(value[key], lower === 'data' ? MASKED_BASE64 : MASKED_TEXT, pass);
    } else if (lower === 'metadata' && isObject(value[key])) {
      maskAnnotations(value[key] as JsonObject, pass);
      value[key] = walk(value[key], isSecret, pass, depth + 1);
    } else if (lower === 'items') {
      value[key] = walk(value[key], childrenSecret, pass, depth + 1);
    } else {
      value[key] = walk(value[key], isSecret, pass, depth + 1);
    }
  }
  return value;
}

/** The lower-cased `kind` of an object (any spelling of the key; JSON.parse kept the last duplicate). */
function kindOf(object: JsonObject): string | undefined {
  let kind: string | undefined;
  for (const [key, value] of Object.entries(object)) {
    if (key.toLowerCase() === 'kind' && typeof value === 'string') kind = value.toLowerCase();
  }
  return kind;
}

/** Every value of a `data`/`stringData` map replaced by `mask` (nulls kept); anything but a map masked whole. */
function maskValues(values: Json, mask: string, pass: Pass): Json {
  if (values === null) return null;
  pass.masked = true;
  if (!isObject(values)) return mask;
  const out = Object.create(null) as JsonObject; // no prototype: a `__proto__` key stays a key
  for (const [key, value] of Object.entries(values)) out[key] = value === null ? null : mask;
  return out;
}

/** Masks the last-applied annotation of an object's metadata, whatever the object. */
function maskAnnotations(metadata: JsonObject, pass: Pass): void {
  for (const [key, annotations] of Object.entries(metadata)) {
    if (key.toLowerCase() !== 'annotations' || !isObject(annotations)) continue;
    for (const [name, value] of Object.entries(annotations)) {
      if (name !== LAST_APPLIED || typeof value !== 'string') continue;
      const inner = maskSecretJson(value, 'any');
      if (!inner.ok) {
        annotations[name] = MASKED_TEXT;
        pass.masked = true;
      } else if (inner.masked) {
        annotations[name] = inner.text;
        pass.masked = true;
      }
    }
  }
}

/**
 * One JSON patch operation on a Secret: its `value` is masked as the part of a Secret its `path` puts it at (so a
 * value under `/data`, `/stringData` or the last-applied annotation is masked, and a whole Secret at `` too).
 */
function maskPatchOperation(op: Json, pass: Pass): Json {
  if (!isObject(op) || typeof op.path !== 'string' || !('value' in op)) return walk(op, true, pass, 1);
  if (op.path !== '' && !op.path.startsWith('/')) {
    // Not a JSON pointer: the API server refuses the patch; the value is not recorded.
    op.value = MASKED_TEXT;
    pass.masked = true;
    return op;
  }
  const parts = op.path === '' ? [] : op.path.split('/').slice(1).map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  let placed: Json = op.value;
  for (let i = parts.length - 1; i >= 0; i--) {
    const parent = Object.create(null) as JsonObject; // no prototype: a `__proto__` part stays a key
    parent[parts[i]] = placed;
    placed = parent;
  }
  let value = walk(placed, true, pass, 1);
  for (const part of parts) value = (value as JsonObject)[part];
  op.value = value;
  return op;
}

/**
 * Masks a watch stream (JSON events `{"type":...,"object":...}`, one after another; the API server ends each with a
 * newline, but events are found by their braces, so pretty-printed events spanning lines work too) as it arrives:
 * `push` returns the masked text of every complete event so far (each masked as a document in `scope`) with the
 * whitespace between events, keeping an incomplete last event; `end` requires that nothing is left. An event longer
 * than `maxEvent` characters, or anything but whitespace between events, is a failure; after a failure the masker
 * stays failed (the engine ends the response).
 */
export class SecretWatchMasker {
  private pending = '';
  /** Scanner state over `pending`: how far it has read, brace depth, inside a string, after a backslash. */
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private failed: string | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly scope: SecretScope, private readonly maxEvent = 64 * 1024 * 1024) {}

  /** Masks the complete events of `chunk` (with what was held before). */
  push(chunk: string | Uint8Array): SecretMaskResult {
    if (this.failed !== undefined) return { ok: false, error: this.failed };
    try {
      this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    } catch {
      return this.fail('the watch stream is not UTF-8');
    }
    const out: string[] = [];
    let masked = false;
    let start = 0; // start of the text not yet emitted
    for (let i = this.scanned; i < this.pending.length; i++) {
      const ch = this.pending[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
      } else if (ch === '"') {
        if (this.depth === 0) return this.fail('a watch stream holds something other than JSON objects');
        this.inString = true;
      } else if (ch === '{' || ch === '[') {
        if (this.depth === 0) out.push(this.pending.slice(start, i)), start = i; // whitespace before an event
        this.depth++;
      } else if (ch === '}' || ch === ']') {
        if (this.depth === 0) return this.fail('a watch stream holds something other than JSON objects');
        if (--this.depth === 0) {
          const event = maskSecretJson(this.pending.slice(start, i + 1), this.scope);
          if (!event.ok) return this.fail(`a watch event: ${event.error}`);
          masked ||= event.masked;
          out.push(event.text);
          start = i + 1;
        }
      } else if (this.depth === 0 && ch !== ' ' && ch !== '\n' && ch !== '\r' && ch !== '\t') {
        return this.fail('a watch stream holds something other than JSON objects');
      }
    }
    // Keep only the unfinished event (whitespace after the last one is emitted now).
    if (this.depth === 0) {
      out.push(this.pending.slice(start));
      start = this.pending.length;
    }
    this.pending = this.pending.slice(start);
    this.scanned = this.pending.length;
    if (this.pending.length > this.maxEvent) return this.fail('a watch event is too long');
    return { ok: true, text: out.join(''), masked };
  }

  /** The end of the stream: fails when an event (or a multi-byte character) was cut off. */
  end(): SecretMaskResult {
    if (this.failed !== undefined) return { ok: false, error: this.failed };
    try {
      if (this.decoder.decode() !== '') return this.fail('the watch stream ends inside a character');
    } catch {
      return this.fail('the watch stream is not UTF-8');
    }
    if (this.pending !== '') return this.fail('the watch stream ends inside an event');
    return { ok: true, text: '', masked: false };
  }

  private fail(error: string): SecretMaskResult {
    this.failed = error;
    return { ok: false, error };
  }
}
