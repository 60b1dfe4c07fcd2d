/**
 * HTTP request analysis (issue 14): one request (`METHOD /path?query` with the engine's attributes) to one analysed
 * unit with its classes and the match attributes. Pure, synchronous, never throws; a request text it cannot read is
 * one `unknown` unit with `parseError`.
 *
 * Classes: GET, HEAD, OPTIONS `read`; POST, PUT, PATCH `write`; DELETE `destructive`; a WebSocket upgrade
 * (`upgrade: 'websocket'`) `read` and `write` (the caller may send anything on it); any other method `unknown` (its
 * attributes are still set, so a rule naming the method can allow it).
 *
 * Attributes (src/protocols/http/match.ts gives them meaning):
 * - `methods`: `[METHOD]` as sent;
 * - `paths`: `[path]`, normalised by normaliseHttpPath (what the upstream receives; a path it refuses makes the
 *   request unknown);
 * - `query`: the parameter names, percent-decoded (`+` is a space), sorted and unique; a name is also read split at
 *   `;` (some servers separate pairs with it), so both readings are judged; a bad escape makes the request unknown;
 * - `body`: `['json']` for a JSON body Warden read, `['unread']` for a body it could not read (too large, not JSON,
 *   too deep); absent without a body. The body's fields (json-body.ts) are the unit's `detail` (HttpUnitDetail),
 *   which only `jsonBody` reads.
 */
import type { Analysis, AnalysedUnit } from '../../session/protocol.js';
import { type JsonField, jsonFields } from './json-body.js';
import { normaliseHttpPath } from './path.js';

/** What the engine tells the analyser about a request besides its text (see HttpCommandAttributes). */
export interface HttpRequestFacts {
  body?: string;
  bodyUnread?: string;
  contentType?: string;
  upgrade?: string;
}

/** What the analyser knows of a request's body, for `jsonBody` conditions (AnalysedUnit.detail). */
export type HttpUnitDetail =
  | { body: 'none' }
  | { body: 'unread' }
  | { body: 'json'; fields: readonly JsonField[] };

const METHOD_CLASSES: Readonly<Record<string, string>> = { GET: 'read', HEAD: 'read', OPTIONS: 'read', POST: 'write',
  PUT: 'write', PATCH: 'write', DELETE: 'destructive' };
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One request judged. */
export function analyseHttpRequest(text: string, facts: HttpRequestFacts): Analysis {
  try {
    return analyse(String(text), facts ?? {});
  } catch {
    // Nothing above is expected to throw; if it does, the request is judged unknown rather than failing the caller.
    return unknownHttpAnalysis(String(text), 'the request could not be analysed');
  }
}

function analyse(text: string, facts: HttpRequestFacts): Analysis {
  const space = text.indexOf(' ');
  if (space < 0) return unknownHttpAnalysis(text, 'the request is not "METHOD /path"');
  const method = text.slice(0, space);
  if (!TOKEN.test(method)) return unknownHttpAnalysis(text, 'the method is not an HTTP token');
  const target = text.slice(space + 1);
  const mark = target.indexOf('?');
  const rawPath = mark < 0 ? target : target.slice(0, mark);
  const normal = normaliseHttpPath(rawPath);
  if ('refusal' in normal) return unknownHttpAnalysis(text, normal.refusal);
  if (rawPath === '') return unknownHttpAnalysis(text, 'the request is not "METHOD /path"');
  const query = mark < 0 ? [] : queryNames(target.slice(mark + 1));
  if (typeof query === 'string') return unknownHttpAnalysis(text, query);

  const classes = facts.upgrade === 'websocket' ? ['read', 'write'] : [METHOD_CLASSES[method] ?? 'unknown'];
  const detail = bodyDetail(facts);
  // A WebSocket upgrade is a GET that opens a two-way channel: its methods are GET and WEBSOCKET, so an allow rule
  // naming only GET (every method must match) never lets a caller open one, while a deny of GET still holds.
  const methods = facts.upgrade === 'websocket' ? [method, 'WEBSOCKET'] : [method];
  const attributes: Record<string, string[]> = { methods, paths: [normal.path], query };
  if (detail.body !== 'none') attributes.body = [detail.body];
  const unit: AnalysedUnit = { text, classes, attributes, detail };
  return { units: [unit], classes };
}

/** The body as `jsonBody` sees it: absent, unread, or its fields. */
function bodyDetail(facts: HttpRequestFacts): HttpUnitDetail {
  if (facts.bodyUnread === 'true') return { body: 'unread' };
  if (typeof facts.body !== 'string') return { body: 'none' };
  const fields = jsonFields(facts.body);
  return fields === undefined ? { body: 'unread' } : { body: 'json', fields };
}

/** The query's parameter names (decoded, sorted, unique), or why the query cannot be read. */
function queryNames(query: string): string[] | string {
  const names = new Set<string>();
  for (const pair of query.split('&')) {
    const raw = pair.split('=', 1)[0];
    for (const part of [raw, ...(pair.includes(';') ? pair.split(';').map((p) => p.split('=', 1)[0]) : [])]) {
      if (part === '') continue;
      const name = decodeQueryPart(part);
      if (name === undefined) return 'the query has a bad percent-escape or is not UTF-8';
      names.add(name);
    }
  }
  return [...names].sort();
}

/** `+` as a space and percent-escapes decoded strictly; undefined for a bad escape or bytes that are not UTF-8. */
function decodeQueryPart(text: string): string | undefined {
  const plain = text.replaceAll('+', ' ');
  if (!plain.includes('%')) return plain;
  const bytes: number[] = [];
  for (let i = 0; i < plain.length; i++) {
    if (plain[i] === '%') {
      const hex = plain.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const code = plain.codePointAt(i)!;
      const char = String.fromCodePoint(code);
      bytes.push(...new TextEncoder().encode(char));
      i += char.length - 1;
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** A request the analyser cannot judge: one `unknown` unit, no attribute established. */
export function unknownHttpAnalysis(text: string, why: string): Analysis {
  return { units: [{ text, classes: ['unknown'], attributes: {} }], classes: ['unknown'], parseError: why };
}
