/**
 * The request target of a call to the Kubernetes listener: `/k8s/<target>/<api path>?<query>`, split into the
 * Warden target's name and the API path forwarded upstream byte for byte. Pure: no I/O.
 *
 * Warden judges the path exactly as it forwards it, and the API server must read it the same way. Anything the API
 * server (Go's net/url and the request-info resolver) could read differently from Warden's analyser is refused
 * rather than normalised: dot segments, empty segments, percent-encoding and backslashes in the path (an encoded
 * `/` or `.` is an alias of another object), `;` in the query (Go drops such pairs), malformed percent-encoding in
 * the query (Go drops the pair, a WHATWG parser keeps it) and a query key given twice (Go reads the first, other
 * readers the last), except the keys the API defines as lists (`command` of exec, `ports` of portforward).
 */
import { WardenError } from '../../errors.js';

/** The URL prefix under which each target is served: `/k8s/<target>`. */
export const TARGET_PREFIX = '/k8s/';

/** Query keys the API reads as lists (every value counts), so a repeat is meaningful, not ambiguous. */
const LIST_KEYS = new Set(['command', 'ports']);
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Path bytes Warden forwards as they are: RFC 3986 unreserved and sub-delims, `:`, `@` and `/`. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
/** Query bytes: the same plus `?` and `%` (decoded and checked below); never `;`, `#`, blanks or controls. */
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@/?%]*$/;

/** A request target split into its parts. */
export interface RequestTarget {
  /** The Warden target's name. */
  target: string;
  /** The API path and query after the prefix, exactly as received and as forwarded (`/api/v1/pods?watch=1`). */
  apiPath: string;
  /** The path part of apiPath. */
  path: string;
  /** The query part of apiPath without `?` ('' when none). */
  query: string;
}

function bad(message: string): WardenError {
  return new WardenError('WARDEN_ERR_BAD_REQUEST', message);
}

/** Splits and checks a raw request target (Node's `request.url`); throws WARDEN_ERR_BAD_REQUEST or _NOT_FOUND. */
export function parseRequestTarget(raw: string): RequestTarget {
  if (!raw.startsWith(TARGET_PREFIX)) {
    throw new WardenError('WARDEN_ERR_NOT_FOUND', `Warden serves Kubernetes targets under ${TARGET_PREFIX}<target>/ `
      + '(set the cluster server to https://WARDEN:PORT/k8s/<target>)');
  }
  const afterPrefix = raw.slice(TARGET_PREFIX.length);
  const end = afterPrefix.search(/[/?]/);
  const target = end === -1 ? afterPrefix : afterPrefix.slice(0, end);
  if (!TARGET_NAME.test(target)) throw bad('the URL does not name a target: /k8s/<target>/...');
  let apiPath = end === -1 ? '/' : afterPrefix.slice(end);
  if (apiPath.startsWith('?')) apiPath = `/${apiPath}`;
  const q = apiPath.indexOf('?');
  const path = q === -1 ? apiPath : apiPath.slice(0, q);
  const query = q === -1 ? '' : apiPath.slice(q + 1);
  checkPath(path);
  checkQuery(query);
  return { target, apiPath, path, query };
}

function checkPath(path: string): void {
  if (!PATH_CHARS.test(path)) {
    throw bad('the API path holds characters Warden does not forward (percent-encoding, backslashes, blanks): '
      + 'write it plainly');
  }
  const segments = path.split('/').slice(1);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s === '.' || s === '..') throw bad('the API path holds a "." or ".." segment: write it plainly');
    // A trailing "/" is read as if absent by the API server; an empty segment elsewhere could alias another path.
    if (s === '' && i !== segments.length - 1) throw bad('the API path holds an empty segment ("//")');
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw bad('the query holds malformed percent-encoding');
  }
}

function checkQuery(query: string): void {
  if (query === '') return;
  if (!QUERY_CHARS.test(query)) throw bad('the query holds characters Warden does not forward (";", "#", blanks)');
  const seen = new Set<string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (eq !== -1) decode(pair.slice(eq + 1));
    if (seen.has(key) && !LIST_KEYS.has(key)) throw bad(`the query gives "${key}" more than once`);
    seen.add(key);
  }
}
