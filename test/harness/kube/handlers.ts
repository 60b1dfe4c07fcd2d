/**
 * The resource verbs of the test API server: get, list, watch, create, update, patch, delete, deletecollection,
 * the `status` and `scale` subresources and the access reviews, answering JSON (or `as=Table`) as the real server
 * does. Requests arrive here already authenticated, authorized and parsed (`ResourceRequest`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { allowed, rulesFor, type AccessRule, type Identity } from './access.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import {
  PROTOBUF, PROTOBUF_WATCH, decodeProtobuf, encodeSecretListProtobuf, encodeSecretProtobuf, encodeSecretWatchEventProtobuf, prefersProtobuf,
} from './protobuf.js';
import { apiVersionOf, findType, type ResourceType } from './resources.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { ApiError, badRequest, conflict, failure } from './status.js';
import type { Entry, Obj, Store, WatchEvent } from './store.js';
import { toTable, type IncludeObject } from './tables.js';

/** A parsed resource request (the API server's RequestInfo). */
export interface ResourceRequest {
  verb: string;
  group: string;
  version: string;
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  query: URLSearchParams;
}

/** What the handlers need from the server. */
export interface HandlerContext {
  store: Store;
  rules: AccessRule[];
  who: Identity;
}

/**
 * Parses `/api/v1/...` and `/apis/GROUP/VERSION/...` paths (undefined for anything else). The caller passes the
 * path as a WHATWG URL reads it, so `.` and `..` segments are already resolved: a gateway that judges the raw path but
 * forwards an alias gets the aliased object served (and the raw path recorded), which is what a test of it must see.
 */
export function parseResourcePath(pathname: string, method: string, query: URLSearchParams): ResourceRequest | undefined {
  let parts: string[];
  try {
    parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    return undefined; // a malformed percent-escape names no resource
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) [group, version, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else return undefined;
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && ['status', 'finalize'].includes(rest[2]))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  const [resource, name = '', subresource = ''] = rest;
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  const verb = ({
    GET: name ? 'get' : watch ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch',
    DELETE: name ? 'delete' : 'deletecollection',
  } as Record<string, string>)[method] ?? method.toLowerCase();
  return { verb, group, version, namespace, resource, name, subresource, query };
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/** The `includeObject` of a Table request, or undefined when the client did not ask for a Table. */
function tableRequest(req: IncomingMessage, query: URLSearchParams): IncludeObject | undefined {
  const first = String(req.headers.accept ?? '').split(',')[0].replace(/\s/g, '');
  if (!first.includes('as=Table') || !first.includes('g=meta.k8s.io')) return undefined;
  const include = query.get('includeObject') ?? 'Metadata';
  if (!['None', 'Metadata', 'Object'].includes(include)) throw badRequest(`unsupported includeObject ${include}`);
  return include as IncludeObject;
}

function listKind(type: ResourceType): string {
  return `${type.kind}List`;
}

function selection(r: ResourceRequest): (obj: Obj) => boolean {
  const labels = labelSelector(r.query.get('labelSelector'));
  const fields = fieldSelector(r.query.get('fieldSelector'));
  return (obj) => labels(obj) && fields(obj);
}

/** get and list (with `limit`/`continue` paging by key, as etcd pages). */
export function getOrList(req: IncomingMessage, res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext): void {
  const table = tableRequest(req, r.query);
  const rv = String(ctx.store.resourceVersion);
  const protobuf = !table && type.resource === 'secrets' && prefersProtobuf(req.headers.accept);
  if (r.name) {
    const entry = ctx.store.mustGet(type, r.namespace, r.name);
    if (protobuf) sendJson(res, 200, encodeSecretProtobuf(entry.obj), PROTOBUF);
    else if (table) sendJson(res, 200, toTable(type.resource, [entry.obj], table, rv));
    else sendJson(res, 200, entry.json);
    return;
  }
  if (!table && !protobuf && !r.query.get('labelSelector') && !r.query.get('fieldSelector') && !r.query.get('limit') && !r.query.get('continue')) {
    sendJson(res, 200, Buffer.concat([
      Buffer.from(`{"kind":"${listKind(type)}","apiVersion":"${apiVersionOf(type)}","metadata":{"resourceVersion":"${rv}"},"items":[`),
      ctx.store.listJson(type.resource, r.namespace), Buffer.from(']}')]));
    return;
  }
  const match = selection(r);
  let entries = ctx.store.list(type.resource, r.namespace).filter((e) => match(e.obj));
  const token = r.query.get('continue');
  if (token) {
    let after: string;
    try {
      after = String((JSON.parse(Buffer.from(token, 'base64url').toString()) as { start: string }).start);
    } catch {
      throw badRequest('continue key is not valid: illegal base64 data at input byte 0');
    }
    entries = entries.filter((e) => keyOf(e) > after);
  }
  const limit = Number(r.query.get('limit') ?? 0);
  let next = '';
  if (limit > 0 && entries.length > limit) {
    entries = entries.slice(0, limit);
    next = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(rv), start: keyOf(entries[entries.length - 1]) })).toString('base64url');
  }
  if (table) {
    sendJson(res, 200, toTable(type.resource, entries.map((e) => e.obj), table, rv, true, next));
    return;
  }
  if (protobuf) {
    sendJson(res, 200, encodeSecretListProtobuf(entries.map((e) => e.obj), rv), PROTOBUF);
    return;
  }
  const metadata = JSON.stringify({ resourceVersion: rv, ...(next ? { continue: next } : {}) });
  sendJson(res, 200, `{"kind":"${listKind(type)}","apiVersion":"${apiVersionOf(type)}","metadata":${metadata},"items":[` +
    `${entries.map((e) => e.json).join(',')}]}`);
}

function keyOf(entry: Entry): string {
  const m = entry.obj.metadata as Obj;
  return `${String(m.namespace ?? '')}/${String(m.name)}`;
}

/** One open watch, so tests can see it end when its client goes away. */
export interface WatchStream {
  resource: string;
  namespace: string;
  closed: boolean;
  eventsSent: number;
}

/** watch: chunked JSON events from `resourceVersion` (or the current state as ADDED events first), until the client leaves or `timeoutSeconds`. */
export function watch(req: IncomingMessage, res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext,
  stream: WatchStream): void {
  const table = tableRequest(req, r.query);
  const match = selection(r);
  const rvParam = r.query.get('resourceVersion') ?? '';
  let backlog: WatchEvent[] | undefined;
  if (rvParam === '' || rvParam === '0') {
    const rv = ctx.store.resourceVersion;
    backlog = ctx.store.list(type.resource, r.namespace).map((entry) => ({
      type: 'ADDED', resource: type.resource, namespace: r.namespace, entry, rv,
    }));
  } else {
    backlog = ctx.store.eventsSince(Number(rvParam));
  }
  const protobuf = !table && type.resource === 'secrets' && prefersProtobuf(req.headers.accept);
  if (protobuf && backlog === undefined) {
    // The real server sends a protobuf Status as an ERROR event; this one answers 410 before the stream starts.
    throw new ApiError(failure(410, 'Expired', `too old resource version: ${rvParam} (${ctx.store.resourceVersion})`));
  }
  res.writeHead(200, { 'Content-Type': protobuf ? PROTOBUF_WATCH : 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  if (backlog === undefined) {
    const status = failure(410, 'Expired', `too old resource version: ${rvParam} (${ctx.store.resourceVersion})`);
    res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
    stream.closed = true;
    return;
  }
  let first = true;
  const send = (event: WatchEvent): void => {
    if (event.resource !== type.resource || (r.namespace && event.namespace !== r.namespace) || !match(event.entry.obj)) return;
    stream.eventsSent++;
    if (protobuf) {
      res.write(encodeSecretWatchEventProtobuf(event.type, event.entry.obj));
      return;
    }
    const object = table
      ? JSON.stringify(toTable(type.resource, [event.entry.obj], table, String(event.rv), first))
      : event.entry.json;
    first = false;
    res.write(`{"type":"${event.type}","object":${object}}\n`);
  };
  for (const event of backlog) send(event);
  const unsubscribe = ctx.store.subscribe(send);
  const timeout = Number(r.query.get('timeoutSeconds') ?? 0);
  const timer = timeout > 0 ? setTimeout(() => finish(), timeout * 1000) : undefined;
  const finish = (): void => {
    unsubscribe();
    clearTimeout(timer);
    stream.closed = true;
    if (!res.writableEnded) res.end();
  };
  req.on('close', finish);
  res.on('close', finish);
}

/** Decodes a request body as JSON (or, for server-side apply, YAML). */
export function decodeBody(body: Buffer, contentType: string): Obj {
  if (contentType === PROTOBUF) return decodeProtobuf(body);
  const text = body.toString('utf8');
  try {
    const value: unknown = contentType === 'application/apply-patch+yaml' ? parseYaml(text) : JSON.parse(text);
    if (typeof value !== 'object' || value === null) throw new Error('not an object');
    return value as Obj;
  } catch (err) {
    throw badRequest(`the body of the request was in an unknown format - accepted media types include: application/json, ` +
      `application/yaml (${(err as Error).message})`);
  }
}

function mediaType(req: IncomingMessage): string {
  return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function requireJson(req: IncomingMessage): void {
  const ct = mediaType(req);
  if (ct !== 'application/json' && ct !== 'application/yaml' && ct !== PROTOBUF && ct !== '') {
    throw new ApiError(failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`));
  }
}

const isDryRun = (r: ResourceRequest): boolean => r.query.getAll('dryRun').includes('All');

/** create (POST on a collection). */
export function create(req: IncomingMessage, res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext, body: Buffer): void {
  requireJson(req);
  const obj = decodeBody(body, mediaType(req));
  if (type.group === 'authorization.k8s.io') {
    sendJson(res, 201, review(type, obj, ctx));
    return;
  }
  checkKind(type, obj);
  sendJson(res, 201, ctx.store.create(type, r.namespace, obj, isDryRun(r)).json);
}

function checkKind(type: ResourceType, obj: Obj): void {
  if ((obj.kind !== undefined && obj.kind !== type.kind) || (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(type))) {
    throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(type)})`);
  }
}

function review(type: ResourceType, obj: Obj, ctx: HandlerContext): Obj {
  const spec = (obj.spec ?? {}) as Obj;
  if (type.resource === 'selfsubjectrulesreviews') {
    return { ...obj, apiVersion: 'authorization.k8s.io/v1', kind: type.kind, metadata: {}, status: {
      resourceRules: rulesFor(ctx.rules, ctx.who, String(spec.namespace ?? '')),
      nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi',
        '/openapi/*', '/readyz', '/version', '/version/'] }],
      incomplete: false,
    } };
  }
  const ra = spec.resourceAttributes as Obj | undefined;
  const ok = ra === undefined ? spec.nonResourceAttributes !== undefined : allowed(ctx.rules, ctx.who, {
    verb: String(ra.verb ?? ''), group: String(ra.group ?? ''), resource: String(ra.resource ?? ''),
    subresource: String(ra.subresource ?? ''), namespace: String(ra.namespace ?? ''), name: String(ra.name ?? ''),
  });
  return { ...obj, apiVersion: 'authorization.k8s.io/v1', kind: type.kind, metadata: {},
    status: { allowed: ok, ...(ok ? {} : { reason: '' }) } };
}

/** Applies a PATCH body to `current` by the format its content type names (415 for any other, 400 for a bad body). */
function applyPatch(req: IncomingMessage, current: Obj, body: Buffer): Obj {
  const ct = mediaType(req);
  if (ct === 'application/json-patch+json') {
    let ops: unknown;
    try {
      ops = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw badRequest(`error decoding patch: ${(err as Error).message}`);
    }
    return jsonPatch(current, ops) as Obj;
  }
  switch (ct) {
    case 'application/merge-patch+json': case 'application/apply-patch+yaml':
      return mergePatch(current, decodeBody(body, ct)) as Obj;
    case 'application/strategic-merge-patch+json': return strategicMergePatch(current, decodeBody(body, ct)) as Obj;
    default:
      throw new ApiError(failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media ` +
        'types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, ' +
        'application/strategic-merge-patch+json'));
  }
}

/** update (PUT) and patch (PATCH) of an object or of its `status`; server-side apply creates a missing object. */
export function updateOrPatch(req: IncomingMessage, res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext,
  body: Buffer): void {
  const dryRun = isDryRun(r);
  const ns = type.namespaced ? r.namespace : '';
  const apply = mediaType(req) === 'application/apply-patch+yaml';
  if (r.verb === 'patch' && apply && !ctx.store.get(type.resource, ns, r.name)) {
    const obj = decodeBody(body, 'application/apply-patch+yaml');
    checkKind(type, obj);
    sendJson(res, 201, ctx.store.create(type, r.namespace, { ...obj, metadata: { ...(obj.metadata as Obj), name: r.name } }, dryRun).json);
    return;
  }
  const current = ctx.store.mustGet(type, ns, r.name);
  let next: Obj;
  if (r.verb === 'update') {
    requireJson(req);
    next = decodeBody(body, mediaType(req));
    checkKind(type, next);
  } else {
    next = applyPatch(req, structuredClone(current.obj), body);
  }
  if (r.subresource === 'status') next = { ...current.obj, status: next.status, metadata: { ...(current.obj.metadata as Obj),
    resourceVersion: (next.metadata as Obj | undefined)?.resourceVersion } };
  sendJson(res, 200, ctx.store.update(type, r.namespace, r.name, next, dryRun).json);
}

function scaleOf(entry: Entry): Obj {
  const m = entry.obj.metadata as Obj;
  const spec = entry.obj.spec as Obj;
  const status = entry.obj.status as Obj;
  const labels = ((spec.selector as Obj | undefined)?.matchLabels ?? {}) as Obj;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas },
    status: { replicas: status.replicas ?? 0, selector: Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`).join(',') },
  };
}

/** The `scale` subresource of deployments (get, update, patch). */
export function scale(req: IncomingMessage, res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext, body: Buffer): void {
  const current = ctx.store.mustGet(type, r.namespace, r.name);
  if (r.verb === 'get') {
    sendJson(res, 200, scaleOf(current));
    return;
  }
  const wanted = r.verb === 'update' ? decodeBody(body, 'application/json') : applyPatch(req, scaleOf(current), body);
  const rv = (wanted.metadata as Obj | undefined)?.resourceVersion;
  if (rv !== undefined && rv !== '' && rv !== (current.obj.metadata as Obj).resourceVersion) throw conflict('autoscaling', 'scale', r.name);
  const replicas = (wanted.spec as Obj | undefined)?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new ApiError(failure(422, 'Invalid', `Scale.autoscaling "${r.name}" is invalid: spec.replicas: Invalid value: ${String(replicas)}: must be greater than or equal to 0`));
  }
  const next = structuredClone(current.obj);
  (next.spec as Obj).replicas = replicas;
  sendJson(res, 200, scaleOf(ctx.store.update(type, r.namespace, r.name, next, isDryRun(r))));
}

/** delete and deletecollection (honouring `preconditions`); objects go at once. */
export function remove(res: ServerResponse, type: ResourceType, r: ResourceRequest, ctx: HandlerContext, body: Buffer): void {
  const options = body.length > 0 ? decodeBody(body, 'application/json') : {};
  const dryRun = isDryRun(r) || (Array.isArray(options.dryRun) && options.dryRun.includes('All'));
  if (r.verb === 'delete') {
    const current = ctx.store.mustGet(type, type.namespaced ? r.namespace : '', r.name);
    const pre = (options.preconditions ?? {}) as Obj;
    const m = current.obj.metadata as Obj;
    if ((pre.uid !== undefined && pre.uid !== m.uid) || (pre.resourceVersion !== undefined && pre.resourceVersion !== m.resourceVersion)) {
      throw conflict(type.group, type.resource, r.name);
    }
    ctx.store.delete(type, r.namespace, r.name, dryRun);
    sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: { name: r.name, ...(type.group ? { group: type.group } : {}), kind: type.resource, uid: m.uid } });
    return;
  }
  const match = selection(r);
  const gone = ctx.store.list(type.resource, r.namespace).filter((e) => match(e.obj)).map((e) => {
    const m = e.obj.metadata as Obj;
    return ctx.store.delete(type, String(m.namespace ?? ''), String(m.name), dryRun).json;
  });
  sendJson(res, 200, `{"kind":"${listKind(type)}","apiVersion":"${apiVersionOf(type)}","metadata":{"resourceVersion":` +
    `"${ctx.store.resourceVersion}"},"items":[${gone.join(',')}]}`);
}

/** The served type of a request, or a 404 Status as the real server words an unknown path. */
export function typeOf(r: ResourceRequest): ResourceType {
  const type = findType(r.group, r.version, r.resource);
  if (!type) throw new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource'));
  return type;
}
