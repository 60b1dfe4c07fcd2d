/**
 * The headers of an upstream answer as the caller gets them: hop-by-hop headers dropped, the upstream's
 * WWW-Authenticate dropped (the caller authenticates to Warden, never to the upstream through it, and a browser
 * would answer a Basic challenge with a credential meant for Warden), the injected credential scrubbed from every
 * value (Location, Set-Cookie, ...), and Warden's request id and notices added. Set-Cookie passes to the caller but
 * is never recorded (see recordedHeaders). Pure: no I/O.
 */
import { HOP_BY_HOP, connectionNames } from './request-headers.js';
import { scrubText } from './secret-scrub.js';

/** Header values as undici gives them. */
export type UpstreamHeaders = Record<string, string | string[] | undefined>;

/** Headers never kept in a recording (credentials and cookies, either way). */
const NOT_RECORDED = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'www-authenticate',
  'proxy-authenticate']);

/** The caller's view of upstream headers; `forms`: the injected credential's byte forms to scrub. */
export function callerHeaders(headers: UpstreamHeaders, forms: readonly Buffer[]): Record<string, string | string[]> {
  const named = connectionNames(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === 'www-authenticate'
      || name === 'x-warden-request-id') continue;
    out[name] = Array.isArray(value) ? value.map((v) => scrubText(v, forms)) : scrubText(value, forms);
  }
  return out;
}

/** Header pairs as a recording keeps them (lower-case names, in order), never a credential or a cookie. */
export function recordedHeaders(pairs: Iterable<readonly [string, string]>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (!NOT_RECORDED.has(lower)) out.push([lower, value]);
  }
  return out;
}

/** The name/value pairs of a header object (array values spread). */
export function headerPairs(headers: Record<string, string | string[] | number | undefined>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [String(value)]) out.push([name, v]);
  }
  return out;
}

/** The name/value pairs of Node's rawHeaders. */
export function rawPairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}
