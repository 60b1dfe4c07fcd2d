/**
 * What a Kubernetes API request is, from its method and URL alone, resolved the way the API server's own
 * `RequestInfoFactory` (k8s.io/apiserver endpoints/request/requestinfo.go) resolves it for authorization: resource
 * or non-resource request, verb, API group, version, namespace, resource, subresource and name. Pure, never throws.
 *
 * The API server's rules, in order (API prefixes `api` and `apis`, `api` without a group):
 * - fewer than 3 path segments, another first segment, or `/apis/G/V` alone: a non-resource request whose verb is
 *   the lower-cased method (`/version`, `/healthz`, `/openapi/v3`, discovery `/api`, `/api/v1`, `/apis/apps/v1`);
 * - after the version, `watch` or `proxy` as the next segment is the verb (legacy `/api/v1/watch/...`); with nothing
 *   after it the request is an error; otherwise the method decides: POST create, GET and HEAD get, PUT update, PATCH
 *   patch, DELETE delete, anything else no verb;
 * - `namespaces/NS` sets the namespace, and what follows is the resource unless it is a namespace subresource
 *   (`status`, `finalize`): then the resource is `namespaces` itself, named NS;
 * - the remaining parts are resource, name, subresource (never a subresource under the legacy `proxy` verb);
 * - a get without a name is a list, or a watch when the first `watch` parameter is anything but `false`/`0`
 *   (lower-cased; an empty value is true); a list or watch whose `fieldSelector` requires `metadata.name=N` is named N
 *   (Warden takes it only for groups the API server serves itself: an aggregated server may ignore the selector);
 * - a delete without a name is a deletecollection.
 * Where Warden reads less than the API server (a field selector it cannot parse simply), it leaves the name unset,
 * which policies treat as "may be any name". URL spellings the API server and other HTTP stacks could read
 * differently are refused before these rules (url.ts).
 */
import { decodeTarget } from './url.js';

/** One request as the API server's request-info resolver sees it. */
export interface KubeRequestInfo {
  /** The HTTP method as sent (`GET`). */
  method: string;
  /** True for a resource request (`/api/v1/...` with a resource), false for a non-resource URL. */
  resourceRequest: boolean;
  /**
   * The API server's verb: get, list, watch, create, update, patch, delete, deletecollection, proxy (legacy), or ''
   * for a method it has no verb for; for a non-resource request the lower-cased method (`get`).
   */
  verb: string;
  /** `api`, `apis`, or '' for a non-resource request. */
  apiPrefix: string;
  /** The API group ('' for the core group and non-resource requests). */
  apiGroup: string;
  apiVersion: string;
  /** '' when the request names none (cluster-scoped resources, lists across all namespaces). */
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The path parts from the resource on (`pods/foo/log`), as the API server keeps them. */
  parts: string[];
  /** The decoded path segments. */
  segments: string[];
  /** The query parameters as the API server reads them (every value of each name, in order). */
  query: ReadonlyMap<string, readonly string[]>;
}

/** The result of parsing: the request info, or why the request cannot be judged. */
export type RequestInfoResult = { ok: true; info: KubeRequestInfo } | { ok: false; error: string };

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIXES = new Set(['api']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** An HTTP method token (RFC 9110); anything else is not a request the API server would read. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;

/**
 * Parses one request: `method` as sent and `target` the path and query after Warden's `/k8s/<target>` prefix
 * (`/api/v1/namespaces/default/pods?watch=1`). Never throws; a request it cannot judge is `{ ok: false, error }`.
 */
export function parseRequestInfo(method: string, target: string): RequestInfoResult {
  if (!METHOD.test(method)) return { ok: false, error: 'the method is not an HTTP token' };
  const decoded = decodeTarget(target);
  if (!decoded.ok) return decoded;
  const { segments, query } = decoded.target;
  const info: KubeRequestInfo = {
    method, resourceRequest: false, verb: method.toLowerCase(), apiPrefix: '', apiGroup: '', apiVersion: '', namespace: '',
    resource: '', subresource: '', name: '', parts: [], segments, query,
  };
  if (segments.length < 3 || !API_PREFIXES.has(segments[0])) return { ok: true, info };
  let current = segments.slice(1);
  const prefix = segments[0];
  let group = '';
  if (!GROUPLESS_PREFIXES.has(prefix)) {
    if (current.length < 3) return { ok: true, info };
    group = current[0];
    current = current.slice(1);
  }
  Object.assign(info, { resourceRequest: true, apiPrefix: prefix, apiGroup: group, apiVersion: current[0] });
  current = current.slice(1);
  let verbViaPath = false;
  if (SPECIAL_VERBS.has(current[0])) {
    if (current.length < 2) return { ok: false, error: 'unable to determine kind and namespace from the URL' };
    info.verb = current[0];
    current = current.slice(1);
    verbViaPath = true;
  } else info.verb = METHOD_VERBS[method] ?? '';
  if (current[0] === 'namespaces' && current.length > 1) {
    info.namespace = current[1];
    if (current.length > 2 && !NAMESPACE_SUBRESOURCES.has(current[2])) current = current.slice(2);
  }
  info.parts = current;
  if (current.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = current[2];
  if (current.length >= 2) info.name = current[1];
  info.resource = current[0];
  if (info.name === '' && info.verb === 'get') {
    info.verb = watchRequested(query) ? 'watch' : 'list';
    if (!verbViaPath && selectorEnforced(group)) info.name = selectedName(query) ?? '';
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return { ok: true, info };
}

/** Go's bool conversion of the first `watch` value: only absence, `0` and `false` (any case) are false. */
function watchRequested(query: ReadonlyMap<string, readonly string[]>): boolean {
  const first = query.get('watch')?.[0];
  if (first === undefined) return false;
  const lower = first.toLowerCase();
  return lower !== 'false' && lower !== '0';
}

/**
 * Whether the server answering for `group` is the API server itself, which applies a list's field selector: the
 * core group, groups without a dot (apps, batch, policy, ...) and `*.k8s.io` groups but the metrics APIs. Other
 * groups may be served by an aggregated API server that ignores the selector, so its name is not taken from it.
 */
function selectorEnforced(group: string): boolean {
  if (group === '' || !group.includes('.')) return true;
  return group.endsWith('.k8s.io') && !group.endsWith('metrics.k8s.io');
}

/** A name as Warden accepts it from a field selector: plain characters only (no escapes, operators or separators). */
const SELECTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

/**
 * The name a list's first `fieldSelector` requires (`metadata.name=N` or `==N` as one of its comma-separated terms),
 * or undefined. Selectors with escapes, or terms Warden cannot read plainly, give no name: the API server then may
 * or may not read one, and "no name" is the reading that claims less.
 */
function selectedName(query: ReadonlyMap<string, readonly string[]>): string | undefined {
  const selector = query.get('fieldSelector')?.[0];
  if (selector === undefined || selector.includes('\\')) return undefined;
  let found: string | undefined;
  for (const term of selector.split(',')) {
    const match = /^([A-Za-z0-9._-]+)(==|=|!=)(.*)$/.exec(term);
    if (!match || /[=!]/.test(match[3])) return undefined;
    if (match[1] === 'metadata.name' && match[2] !== '!=' && found === undefined) {
      if (!SELECTOR_NAME.test(match[3])) return undefined;
      found = match[3];
    }
  }
  return found;
}
