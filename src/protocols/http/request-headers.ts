/**
 * The headers an allowed request carries upstream. The caller's headers pass, except:
 * - its credentials (Authorization, Proxy-Authorization) and Warden's cookie (the caller's other cookies pass), so
 *   the upstream never sees a Warden token;
 * - hop-by-hop headers (Connection and what it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 *   Proxy-Connection) and Expect (Warden answered it), which describe the caller's connection, not the request;
 * - Host (undici sends the target's, or the target's `hostHeader`) and Content-Length (the body sent fixes it);
 * - Forwarded and X-Forwarded-* / X-Real-IP from the caller (it could claim any address); Warden sets its own
 *   X-Forwarded-For (the caller's address), X-Forwarded-Proto (how the caller reached Warden) and, on host-name
 *   routes, X-Forwarded-Host (the name the caller used, so an application can build its own links);
 * - a header the target's `header:NAME` credential or static headers set (Warden's value wins, never both).
 * Then the target's static headers and the credential are added. The query loses a caller parameter named like a
 * `query:NAME` credential, and the credential is appended. Pure: no I/O.
 */
import type { HttpTarget } from '../../session/types.js';
import { cookieWithoutWarden } from './caller-auth.js';

/** Headers that describe one hop, never forwarded either way. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Request headers Warden never forwards from the caller. */
const DROPPED = new Set(['authorization', 'host', 'content-length', 'expect', 'forwarded', 'x-real-ip', 'cookie']);

/** The names a Connection header lists (they are hop-by-hop too). */
export function connectionNames(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : value ?? '';
  return new Set(text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
}

/** How the caller reached Warden, for X-Forwarded-*. */
export interface ForwardedFacts {
  clientAddress: string;
  proto: 'http' | 'https';
  /** The Host the caller used on a host-name route; undefined on a path-prefix route. */
  host?: string;
}

/** The credential headers `auth` injects (bearer, basic, header:NAME); {} for none and query. */
export function credentialHeaders(auth: string, secret: string | null): Record<string, string> {
  if (secret === null || auth === 'none') return {};
  if (auth === 'bearer') return { authorization: `Bearer ${secret}` };
  if (auth === 'basic') return { authorization: `Basic ${Buffer.from(secret).toString('base64')}` };
  if (auth.startsWith('header:')) return { [auth.slice('header:'.length).toLowerCase()]: secret };
  return {};
}

/** The upstream headers of one request (`rawHeaders` as Node gives them, name/value pairs in order). */
export function upstreamHeaders(rawHeaders: readonly string[], target: HttpTarget, secret: string | null,
  facts: ForwardedFacts): Record<string, string | string[]> {
  const connection: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'connection') connection.push(rawHeaders[i + 1]);
  const named = connectionNames(connection);
  const injected = { ...lower(target.headers), ...credentialHeaders(target.auth, secret) };
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || DROPPED.has(name) || named.has(name) || name.startsWith('x-forwarded-')) continue;
    if (name in injected) continue;
    const had = out[name];
    out[name] = had === undefined ? rawHeaders[i + 1] : [...(Array.isArray(had) ? had : [had]), rawHeaders[i + 1]];
  }
  const cookies: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'cookie') cookies.push(rawHeaders[i + 1]);
  const cookie = cookieWithoutWarden(cookies.length > 0 ? cookies.join('; ') : undefined);
  if (cookie !== undefined) out.cookie = cookie;
  out['x-forwarded-for'] = facts.clientAddress;
  out['x-forwarded-proto'] = facts.proto;
  if (facts.host !== undefined) out['x-forwarded-host'] = facts.host;
  Object.assign(out, injected);
  // With a credential injected, answers come uncompressed: Warden scrubs the credential from identity bodies only,
  // and an upstream that echoes it (an echo route, an error page) must not hide it from the scrubber in gzip.
  if (secret !== null && target.auth !== 'none') out['accept-encoding'] = 'identity';
  if (target.hostHeader !== null) out.host = target.hostHeader;
  return out;
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v]));
}

/** The decoded name of one `name=value` query parameter (`+` as a blank); the raw name when it does not decode. */
function paramName(part: string): string {
  const name = part.split('=')[0].replace(/\+/g, ' ');
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/**
 * The caller's query without any parameter named `credentialName` (raw otherwise, order and separators kept).
 * Parameters are split at `&` and at `;`, since some servers read `;` as a separator too: `x=1;api_key=evil` must
 * not smuggle a second credential next to the injected one.
 */
export function queryWithout(query: string, credentialName: string | undefined): string {
  if (credentialName === undefined || query === '') return query;
  const kept: string[] = [];
  for (const [, part, separator] of query.matchAll(/([^&;]*)([&;]?)/g)) {
    if (part === '' && separator === '') continue;
    if (paramName(part) !== credentialName) kept.push(part, separator);
  }
  return kept.join('').replace(/[&;]+$/, '');
}

/** Headers and the query parameter frameworks read as "run this request as another method". */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * Why a request that asks the upstream to run it as another method is refused, or undefined. Many frameworks
 * (Express's method-override, Rails, Laravel, ASP.NET, Google APIs) run a POST carrying `X-HTTP-Method-Override:
 * DELETE` or `?_method=DELETE` as a DELETE: Warden would judge one method while the upstream runs another, so such a
 * request is refused rather than guessed at. (A `_method` field in a form body is not read: the body of a form is
 * judged unread, see docs/http.md.)
 */
export function methodOverrideRefusal(headers: Readonly<Record<string, unknown>>, query: string): string | undefined {
  const header = METHOD_OVERRIDE_HEADERS.find((name) => headers[name] !== undefined);
  if (header !== undefined) return `the ${header} header asks the upstream to run another method than the one Warden judges; send the real method instead`;
  if (query !== '' && query.split(/[&;]/).some((part) => paramName(part).toLowerCase() === '_method')) {
    return 'the _method query parameter asks the upstream to run another method than the one Warden judges; send the real method instead';
  }
  return undefined;
}

/** The name of a `query:NAME` credential, else undefined. */
export function queryCredentialName(auth: string): string | undefined {
  return auth.startsWith('query:') ? auth.slice('query:'.length) : undefined;
}

/** The query sent upstream: the caller's (already without the credential's name) plus the injected credential. */
export function upstreamQuery(query: string, auth: string, secret: string | null): string {
  const name = queryCredentialName(auth);
  if (name === undefined || secret === null) return query;
  const param = `${encodeURIComponent(name)}=${encodeURIComponent(secret)}`;
  return query === '' ? param : `${query}&${param}`;
}
