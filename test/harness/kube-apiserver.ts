/**
 * The smallest honest Kubernetes API server for tests (no real one can run on these machines), driven by the real
 * `kubectl`. It serves HTTPS on a free loopback port with its own CA (made per run), and:
 *
 * - authenticates a bearer token (`token`, or any of `tokens`) or a client certificate signed by its CA (CN is the
 *   user, O the groups; `mintClientCertificate`); anything else gets a 401 Status. `Impersonate-*` headers are
 *   honoured when the caller may impersonate. Requests are authorized by RBAC-like allow rules (default: all).
 * - records every request it receives, authenticated or not (`requests`: method, path, query, headers including
 *   `Authorization` and `Impersonate-*`, body size and text, effective user, status), every exec session
 *   (`execs`), log stream (`logs`) and watch (`watches`), so tests can assert what reached the cluster.
 * - discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/GROUP[/VERSION]`, aggregated discovery v2) and a
 *   small OpenAPI v3 (enough for `kubectl apply`'s server-side field validation check; see `kube/discovery.ts`).
 * - namespaces, pods, deployments (apps/v1), secrets and events with get, list (paging), watch (chunked JSON
 *   events from a resourceVersion), create, update, patch (strategic merge, merge, JSON patch; server-side apply
 *   approximated as a merge patch with no field managers), delete, deletecollection, `dryRun=All`, label and field
 *   selectors, `as=Table` with the real server's columns; deployments' `scale` and `status`; pods' `status`, `log`
 *   (follow, tailLines, container), and `exec` and `attach` over WebSocket (`v5.channel.k8s.io`,
 *   `v4.channel.k8s.io`) into a fake shell (an attach reaches an interactive `sh`), `portforward` over WebSocket in
 *   the kubelet's channel protocol to an echo service (not kubectl's SPDY tunnel: `kube/portforward.ts`);
 *   `selfsubjectaccessreviews` and `selfsubjectrulesreviews` from the same rules. Protobuf: request bodies of Namespaces, Secrets and the access
 *   reviews (kubectl's typed clients send those), and Secrets, SecretLists and Secret watch streams answered as
 *   protobuf when asked first (so masking can be tested against it; `kubectl describe secret` reads them); everything
 *   else is JSON.
 *
 * It does not: run containers, controllers or a scheduler (pods are Running at once; deployments report ready
 * replicas and own no ReplicaSets or Pods), delete gracefully (objects go at once; a namespace takes its contents
 * with it), enforce `fieldValidation` (it is accepted), decode other protobuf bodies (415: `kubectl create
 * deployment` sends one; use `kubectl apply -f` or `create -f`), serve `/openapi/v2`, watch bookmarks, HTTP/2,
 * or SPDY: an exec, attach or port-forward with `Upgrade: SPDY/3.1` gets the real server's `101 Switching
 * Protocols` (`X-Stream-Protocol-Version`) and then the connection is closed, so a test can see such a request
 * arrived and that no session ran.
 */
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { generate } from 'selfsigned';
import { ALLOW_ALL, allowed, authenticate, impersonate, type AccessRule, type Identity } from './kube/access.js';
import {
  AGGREGATED_V2, aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, openApiDocument, openApiRoot,
  versionInfo, wantsAggregated,
} from './kube/discovery.js';
import { offersExecProtocol, serveExec, type ExecRecord } from './kube/exec.js';
import {
  create, getOrList, parseResourcePath, remove, scale, sendJson, typeOf, updateOrPatch, watch, type HandlerContext,
  type ResourceRequest, type WatchStream,
} from './kube/handlers.js';
import { kubectlHome, type KubeCredential, type KubectlHome } from './kube/kubectl.js';
import { chooseContainer, serveLog, type LogStream } from './kube/logs.js';
import { forwardedPorts, offersPortForwardProtocol, servePortForward, type PortForwardRecord } from './kube/portforward.js';
import { findType } from './kube/resources.js';
import { ApiError, badRequest, failure, forbidden, type StatusObject } from './kube/status.js';
import { Store, type Obj } from './kube/store.js';
import { generateCertificates } from './postgres.js';
import { freePort } from './ports.js';

export type { AccessRule, Identity } from './kube/access.js';
export type { ExecRecord } from './kube/exec.js';
export type { LogStream } from './kube/logs.js';
export type { PortForwardRecord } from './kube/portforward.js';
export type { WatchStream } from './kube/handlers.js';

const MAX_BODY = 3 * 1024 * 1024;
const RECORDED_BODY = 64 * 1024;

/** One request as it reached the server. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** The raw query string (without `?`). */
  query: string;
  /** Headers by lower-cased name, every repeated one joined by `, ` (Authorization too). */
  headers: Record<string, string>;
  /** Every header line in arrival order, names lower-cased. */
  rawHeaders: [string, string][];
  /** Every `Impersonate-*` header value, by lower-cased name. */
  impersonation: Record<string, string[]>;
  bodySize: number;
  /** The body as text, up to 64 KiB. */
  body: string;
  /** The effective user (after impersonation) once authenticated. */
  user?: string;
  /** The HTTP status answered (101 for upgrades), once answered. */
  status?: number;
  /** Whether it asked for a protocol upgrade (WebSocket or SPDY). */
  upgrade?: string;
}

/** Options of startKubeApiServer. */
export interface StartKubeApiServerOptions {
  /** The bearer token accepted for `user` (default: random). */
  token?: string;
  /** The user the token authenticates as (default `system:serviceaccount:warden:warden`). */
  user?: string;
  groups?: string[];
  /** More tokens and whom they authenticate. */
  tokens?: Record<string, Identity>;
  /** Allow rules (default: everyone authenticated may do everything). */
  rules?: AccessRule[];
  /** The interval of followed log lines (default 200 ms). */
  logIntervalMs?: number;
  /** Lines each container's log starts with (default 10). */
  initialLogLines?: number;
  /** Pods `demo-0..N-1` seeded in namespace `default` (default: one pod `web` with container `app`). */
  seedPods?: number;
}

/** A running test API server. */
export interface KubeApiServer {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  host: string;
  port: number;
  /** The CA certificate (PEM) that signed the server's certificate, and a file holding it. */
  caCert: string;
  caFile: string;
  /** The accepted bearer token and its user. */
  token: string;
  user: string;
  requests: RecordedRequest[];
  execs: ExecRecord[];
  /** Port-forward sessions (WebSocket channel protocol; an echo service behind every port). */
  forwards: PortForwardRecord[];
  logs: LogStream[];
  watches: WatchStream[];
  /** Allow rules in force (replace the array's contents to change them). */
  rules: AccessRule[];
  store: Store;
  /** Creates (or replaces) an object directly, as the cluster itself would; `resource` is `pods`, `apps/deployments`, .... */
  put(resource: string, obj: Obj): Obj;
  /** Sets the lines a container's log starts with. */
  setLogs(namespace: string, pod: string, container: string, lines: string[]): void;
  /** Creates `count` pods `NAME-PREFIX-i` in `namespace` (for the list benchmark). */
  seedPods(namespace: string, count: number, prefix?: string): void;
  /** A client certificate for `user` (and `groups`) signed by the server's CA. */
  mintClientCertificate(user: string, groups?: string[]): Promise<{ cert: string; key: string }>;
  /** A temp HOME with a kubeconfig for this server (default credential: the server's token). */
  kubectl(credential?: KubeCredential): Promise<KubectlHome>;
  stop(): Promise<void>;
}

function recordRequest(req: IncomingMessage, log: RecordedRequest[]): RecordedRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  // From the raw headers, not req.headers: Node keeps only the first of some repeated headers (Authorization among
  // them), and a test must see a second credential if a gateway let one through.
  const headers: Record<string, string> = {};
  const impersonation: Record<string, string[]> = {};
  const rawHeaders: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    rawHeaders.push([name, value]);
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    if (name.startsWith('impersonate-')) (impersonation[name] ??= []).push(value);
  }
  const upgrade = req.headers.upgrade;
  const rec: RecordedRequest = {
    method: req.method ?? '', path: q >= 0 ? url.slice(0, q) : url, query: q >= 0 ? url.slice(q + 1) : '', headers, rawHeaders,
    impersonation, bodySize: 0, body: '', ...(upgrade ? { upgrade } : {}),
  };
  log.push(rec);
  return rec;
}

function readBody(req: IncomingMessage, rec: RecordedRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      rec.bodySize = size;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      rec.body = body.subarray(0, RECORDED_BODY).toString('utf8');
      if (size > MAX_BODY) reject(new ApiError(failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728')));
      else resolve(body);
    });
    req.on('error', reject);
  });
}

function errorStatus(err: unknown): StatusObject {
  if (err instanceof ApiError) return err.status;
  return failure(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
}

/** Writes a Status as a raw HTTP response on an upgrade socket and closes it. */
function rejectUpgrade(socket: Duplex, status: StatusObject): void {
  const body = JSON.stringify(status);
  socket.end(`HTTP/1.1 ${status.code} ${status.reason ?? 'Error'}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Starts the test API server on a free loopback port. */
export async function startKubeApiServer(options: StartKubeApiServerOptions = {}): Promise<KubeApiServer> {
  const certs = await generateCertificates('Warden Test Kubernetes CA');
  const tempDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-kube-'));
  const caFile = path.join(tempDir, 'ca.crt');
  await fsp.writeFile(caFile, certs.caCert);
  const token = options.token ?? randomBytes(24).toString('base64url');
  const user = options.user ?? 'system:serviceaccount:warden:warden';
  const tokens = new Map<string, Identity>(Object.entries(options.tokens ?? {}));
  tokens.set(token, { user, groups: options.groups ?? ['system:serviceaccounts'] });
  const rules = [...(options.rules ?? ALLOW_ALL)];
  const store = new Store();
  const requests: RecordedRequest[] = [];
  const execs: ExecRecord[] = [];
  const forwards: PortForwardRecord[] = [];
  const logs: LogStream[] = [];
  const watches: WatchStream[] = [];
  const logLines = new Map<string, string[]>();
  const homes: KubectlHome[] = [];
  const namespaceType = findType('', 'v1', 'namespaces')!;
  const podType = findType('', 'v1', 'pods')!;
  for (const ns of ['default', 'kube-system', 'kube-public']) store.create(namespaceType, '', { metadata: { name: ns } });

  const seedPods = (namespace: string, count: number, prefix = 'demo'): void => {
    if (!store.get('namespaces', '', namespace)) store.create(namespaceType, '', { metadata: { name: namespace } });
    for (let i = 0; i < count; i++) {
      store.create(podType, namespace, {
        metadata: { name: `${prefix}-${i}`, labels: { app: prefix } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
      });
    }
  };
  if (options.seedPods) seedPods('default', options.seedPods);
  else store.create(podType, 'default', { metadata: { name: 'web', labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } });

  const authorize = (who: Identity, r: ResourceRequest, verb = r.verb): void => {
    if (!allowed(rules, who, { verb, group: r.group, resource: r.resource, subresource: r.subresource, namespace: r.namespace, name: r.name })) {
      throw forbidden(who.user, verb, r.group, r.subresource ? `${r.resource}/${r.subresource}` : r.resource, r.namespace, r.name);
    }
  };

  const identify = (req: IncomingMessage, rec: RecordedRequest): Identity => {
    const who = impersonate(req, authenticate(req, tokens), rules);
    rec.user = who.user;
    return who;
  };

  const nonResource = (req: IncomingMessage, res: ServerResponse, pathname: string, port: number): boolean => {
    const accept = req.headers.accept;
    if (pathname === '/version') sendJson(res, 200, versionInfo());
    else if (pathname === '/healthz' || pathname === '/livez' || pathname === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    } else if ((pathname === '/api' || pathname === '/apis') && wantsAggregated(accept)) {
      res.setHeader('Vary', 'Accept');
      sendJson(res, 200, aggregatedDiscovery(pathname === '/api'), AGGREGATED_V2);
    } else if (pathname === '/api') sendJson(res, 200, apiVersions(`127.0.0.1:${port}`));
    else if (pathname === '/apis') sendJson(res, 200, apiGroupList());
    else if (pathname === '/openapi/v3') sendJson(res, 200, openApiRoot());
    else if (pathname.startsWith('/openapi/v3/')) {
      const doc = openApiDocument(pathname.slice('/openapi/v3/'.length));
      if (!doc) return false;
      sendJson(res, 200, doc);
    } else {
      const parts = pathname.split('/').filter((p) => p !== '');
      const doc = parts[0] === 'api' && parts.length === 2 ? apiResourceList('', parts[1])
        : parts[0] === 'apis' && parts.length === 2 ? apiGroup(parts[1])
          : parts[0] === 'apis' && parts.length === 3 ? apiResourceList(parts[1], parts[2]) : undefined;
      if (!doc) return false;
      sendJson(res, 200, doc);
    }
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, port: number): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://kube.invalid');
    const body = await readBody(req, rec);
    const who = identify(req, rec);
    if (req.method === 'GET' && nonResource(req, res, url.pathname, port)) return;
    const r = parseResourcePath(url.pathname, req.method ?? 'GET', url.searchParams);
    if (!r) throw new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource'));
    const type = typeOf(r);
    const subresource = r.subresource && type.subresources.find((s) => s.name === r.subresource);
    if (r.subresource && !subresource) throw new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource'));
    if (['exec', 'attach', 'portforward'].includes(r.subresource)) throw badRequest('Upgrade request required');
    if ((type.namespaced && !r.namespace && !['list', 'watch'].includes(r.verb)) || (!type.namespaced && r.namespace)) {
      throw new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const verbs = subresource ? subresource.verbs : type.verbs;
    if (!verbs.includes(r.verb)) {
      throw new ApiError(failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    }
    authorize(who, r);
    const ctx: HandlerContext = { store, rules, who };
    if (r.subresource === 'log') {
      const pod = store.mustGet(type, r.namespace, r.name).obj;
      const container = chooseContainer(pod, r.query.get('container'));
      const stream: LogStream = { namespace: r.namespace, pod: r.name, container, follow: r.query.get('follow') === 'true', linesSent: 0, closed: false };
      const initial = options.initialLogLines ?? 10;
      const lines = logLines.get(`${r.namespace}/${r.name}/${container}`) ??
        Array.from({ length: initial }, (_, i) => `log line ${i + 1} of ${r.name}/${container}`);
      serveLog(req, res, r.query, { lines, intervalMs: options.logIntervalMs ?? 200, stream });
      logs.push(stream);
      return;
    }
    if (r.subresource === 'scale') return scale(req, res, type, r, ctx, body);
    switch (r.verb) {
      case 'get': case 'list': return getOrList(req, res, type, r, ctx);
      case 'watch': {
        const stream: WatchStream = { resource: r.resource, namespace: r.namespace, closed: false, eventsSent: 0 };
        watches.push(stream);
        return watch(req, res, type, r, ctx, stream);
      }
      case 'create': return create(req, res, type, r, ctx, body);
      case 'update': case 'patch': return updateOrPatch(req, res, type, r, ctx, body);
      default: return remove(res, type, r, ctx, body);
    }
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const rec = recordRequest(req, requests);
    socket.on('error', () => {});
    try {
      const who = identify(req, rec);
      const url = new URL(req.url ?? '/', 'https://kube.invalid');
      const r = parseResourcePath(url.pathname, 'GET', url.searchParams);
      if (!r || r.resource !== 'pods' || r.group !== '' || !r.namespace || !r.name) {
        throw new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource'));
      }
      if (r.subresource !== 'exec' && r.subresource !== 'attach' && r.subresource !== 'portforward') {
        throw badRequest(`${r.subresource || 'upgrade'} is not served by the test API server`);
      }
      authorize(who, r, 'create');
      const pod = store.mustGet(podType, r.namespace, r.name).obj;
      if (/^SPDY\//i.test(String(req.headers.upgrade))) {
        rec.status = 101;
        socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${String(req.headers['x-stream-protocol-version'] ?? '').split(',')[0].trim()}\r\n\r\n`);
        return;
      }
      if (r.subresource === 'portforward') {
        const ports = forwardedPorts(r.query);
        if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !offersPortForwardProtocol(req)) {
          throw badRequest('unable to upgrade: port-forward is served over WebSocket with v4.channel.k8s.io only');
        }
        const record: PortForwardRecord = { namespace: r.namespace, pod: r.name, ports, protocol: '', received: {}, closed: false };
        forwards.push(record);
        rec.status = 101;
        servePortForward(req, socket, head, record);
        return;
      }
      const container = chooseContainer(pod, r.query.get('container'));
      // An attach reaches the container's main process, which here is always the fake shell.
      const command = r.subresource === 'attach' ? ['sh'] : r.query.getAll('command');
      if (command.length === 0) throw badRequest('you must specify at least 1 command');
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !offersExecProtocol(req)) {
        throw badRequest('unable to upgrade: no supported subprotocol offered (want v5.channel.k8s.io or v4.channel.k8s.io)');
      }
      const record: ExecRecord = {
        kind: r.subresource, namespace: r.namespace, pod: r.name, container, command, tty: r.query.get('tty') === 'true', protocol: '', stdin: '',
        resizes: [], closed: false,
      };
      execs.push(record);
      rec.status = 101;
      serveExec(req, socket, head, record, r.name);
    } catch (err) {
      const status = errorStatus(err);
      rec.status = status.code;
      rejectUpgrade(socket, status);
    }
  };

  const server = https.createServer({ key: certs.serverKey, cert: certs.serverCert, ca: certs.caCert, requestCert: true, rejectUnauthorized: false });
  // The real API server keeps idle keep-alive connections open; Node's 5 s default would race a pooled client.
  server.keepAliveTimeout = 120_000;
  let port = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const rec = recordRequest(req, requests);
    res.on('finish', () => (rec.status = res.statusCode));
    res.on('close', () => { if (res.headersSent) rec.status = res.statusCode; });
    res.setHeader('Audit-Id', randomBytes(16).toString('hex'));
    handle(req, res, rec, port).catch((err: unknown) => {
      const status = errorStatus(err);
      if (res.headersSent) res.destroy();
      else sendJson(res, status.code, status);
    });
  });
  server.on('upgrade', upgrade);
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
  const url = `https://127.0.0.1:${port}`;

  let stopped = false;
  return {
    url, host: '127.0.0.1', port, caCert: certs.caCert, caFile, token, user, requests, execs, forwards, logs, watches, rules, store,
    put: (resource, obj) => {
      const [group, plural] = resource.includes('/') ? resource.split('/') : ['', resource];
      const type = findType(group, 'v1', plural);
      if (!type) throw new Error(`the test API server does not serve ${resource}`);
      const m = (obj.metadata ?? {}) as Obj;
      const ns = type.namespaced ? String(m.namespace ?? 'default') : '';
      if (store.get(type.resource, ns, String(m.name))) store.delete(type, ns, String(m.name));
      return store.create(type, ns, obj).obj;
    },
    setLogs: (namespace, pod, container, lines) => logLines.set(`${namespace}/${pod}/${container}`, lines),
    seedPods,
    mintClientCertificate: async (name, groups = []) => {
      const cert = await generate([{ name: 'commonName', value: name }, ...groups.map((g) => ({ name: 'organizationName', value: g }))], {
        keyType: 'ec', algorithm: 'sha256', ca: { key: certs.caKey, cert: certs.caCert },
        extensions: [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true },
          { name: 'extKeyUsage', clientAuth: true }],
      });
      return { cert: cert.cert, key: cert.private };
    },
    kubectl: async (credential) => {
      const home = await kubectlHome({ server: url, caCert: certs.caCert, credential: credential ?? { token } });
      homes.push(home);
      return home;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(homes.map((h) => h.remove()));
      await fsp.rm(tempDir, { recursive: true, force: true });
    },
  };
}
