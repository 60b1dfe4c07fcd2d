/**
 * The request target of a Kubernetes API request (`/path?query`) decoded the way the API server (Go's net/url) reads
 * it, or refused where Warden could read it differently from the API server. Pure, never throws.
 *
 * Go decodes `req.URL.Path` (so `%2F` becomes `/` and `%2E%2E` becomes `..` inside a segment) and splits it on `/`
 * after trimming slashes; it never cleans `.`/`..` segments in the API server's handler chain, while other HTTP
 * stacks on the way (proxies, WHATWG `new URL()`) do, and kubectl never sends them. So every spelling that is not
 * one plain segment per `/` is refused here: empty segments (`//`; one trailing `/` is trimmed, as Go trims it),
 * `.` and `..` (also encoded), encoded slashes and backslashes, control characters, `#`, characters outside RFC 3986
 * path characters, invalid percent escapes and bytes that are not UTF-8 once decoded. What is left has one reading in Go, in Node and in
 * every proxy, so the path Warden judges is the path the API server serves.
 *
 * The query is read like Go's `url.ParseQuery` (`&` separates pairs, `+` is a space, `%XX` escapes) except that
 * where Go silently drops a pair (a `;` in it, an invalid escape) Warden refuses the whole request: a dropped
 * `command` or `watch` pair would make Warden and the API server see different parameters.
 */

/** The longest request text analysed (path and query), in characters; longer is refused (a URL this long is not kubectl's). */
export const MAX_REQUEST_TARGET = 65_536;

/** A request target as the API server reads it. */
export interface DecodedTarget {
  /** The decoded path segments (`/api/v1/pods` → `['api', 'v1', 'pods']`; `/` → `[]`). */
  segments: string[];
  /** Query parameters in order of appearance, each name with every value given (Go's `url.Values`). */
  query: Map<string, string[]>;
}

/** The result of decoding: the target, or why it is refused. */
export type DecodeResult = { ok: true; target: DecodedTarget } | { ok: false; error: string };

// RFC 3986 pchar without '%' (handled apart): unreserved, sub-delims, ':' and '@'.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%]*$/;
// Query characters: pchar, '/' and '?'. Anything else (space, '#', quotes, non-ASCII, controls) is refused.
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const CONTROL = /[\x00-\x1f\x7f]/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Percent-decodes `text` strictly (plus as space when `plusIsSpace`); undefined for an invalid escape or non-UTF-8. */
function unescape(text: string, plusIsSpace: boolean): string | undefined {
  if (!text.includes('%')) return plusIsSpace ? text.replaceAll('+', ' ') : text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === 0x2b && plusIsSpace) bytes.push(0x20);
    else if (ch < 0x80) bytes.push(ch);
    else return undefined; // callers only pass ASCII (checked above)
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** The decoded path segments, or why the path is refused. */
function decodePath(path: string): string[] | string {
  if (!path.startsWith('/')) return 'the path does not start with "/"';
  if (!PATH_CHARS.test(path.slice(1).replaceAll('/', ''))) return 'the path holds characters outside RFC 3986 path characters';
  if (path === '/') return [];
  // One trailing slash is what the API server trims too (`.../proxy/`, the root of a proxied service); two are an
  // empty segment.
  const raw = path.slice(1, path.endsWith('/') ? -1 : undefined).split('/');
  const segments: string[] = [];
  for (const part of raw) {
    if (part === '') return 'the path has an empty segment ("//")';
    const segment = unescape(part, false);
    if (segment === undefined) return 'the path has an invalid percent escape or is not UTF-8';
    if (segment === '.' || segment === '..') return 'the path has a "." or ".." segment';
    if (segment.includes('/') || segment.includes('\\')) return 'the path has an encoded "/" or a "\\"';
    if (CONTROL.test(segment)) return 'the path has a control character';
    segments.push(segment);
  }
  return segments;
}

/** Go's url.ParseQuery, refusing what Go would drop (see the module comment). */
function decodeQuery(query: string): Map<string, string[]> | string {
  const values = new Map<string, string[]>();
  if (!QUERY_CHARS.test(query)) return 'the query holds characters outside RFC 3986 query characters';
  for (const pair of query.split('&')) {
    if (pair.includes(';')) return 'the query has a ";" (Go drops such a parameter)';
    if (pair === '') continue; // Go skips empty pairs too
    const eq = pair.indexOf('=');
    const key = unescape(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = unescape(eq < 0 ? '' : pair.slice(eq + 1), true);
    if (key === undefined || value === undefined) return 'the query has an invalid percent escape or is not UTF-8';
    if (CONTROL.test(key) || value.includes('\0')) return 'the query has a control character';
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return values;
}

/** Decodes a request target (`/path?query`) as the API server reads it, or refuses it (see the module comment). */
export function decodeTarget(target: string): DecodeResult {
  if (target.length > MAX_REQUEST_TARGET) return { ok: false, error: `the URL is longer than ${MAX_REQUEST_TARGET} characters` };
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  const segments = decodePath(path);
  if (typeof segments === 'string') return { ok: false, error: segments };
  const query = decodeQuery(mark < 0 ? '' : target.slice(mark + 1));
  if (typeof query === 'string') return { ok: false, error: query };
  return { ok: true, target: { segments, query } };
}
