/**
 * A real HTTP(S) upstream for the HTTP engine's tests: an HTTPS server on a free loopback port with its own
 * throwaway CA (or plain HTTP with `tls: false`), optionally requiring a client certificate (mTLS), that checks the
 * credential Warden must inject (`auth`) and records every request that arrives (`received`, credential and all),
 * so tests can assert what was injected and what was stripped.
 *
 * Routes (all answer 401 without the right credential, except the three that leak it on purpose):
 * - `/echo/**` (any method): JSON `{ method, path, query, headers, body }` of what arrived (`query` raw, no `?`).
 * - `/json/customers`: customers with name, email, ssn, phone and nested address and contacts.
 * - `/json/large?mb=N`: a streamed (chunked) JSON array of customers of about N MiB (fractions allowed).
 * - `/gzip/customers`, `/br/customers`: the customers document compressed (Content-Encoding gzip / br).
 * - `/text/customers`: text/plain lines with e-mail addresses. `/binary`: application/octet-stream holding one.
 * - `/sse?n=N&ms=M`: text/event-stream of N events (JSON data with an e-mail) M ms apart, then the end.
 * - `/ws/echo`: WebSocket echo of text and binary messages; `/ws/customers` sends one JSON customer message on open
 *   and then echoes.
 * - `/slow?ms=N`: JSON after N ms. `/hang`: never answers. `/reset`: destroys the socket. `/status/CODE`: that code.
 * - `/redirect-secret` (302 whose Location holds the secret), `/error-secret` (500 text page holding it),
 *   `/www-auth` (401 whose WWW-Authenticate holds it): no credential check, so a test can see Warden hide them.
 * Anything else: 404.
 */
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { generate } from 'selfsigned';
import { WebSocketServer, type WebSocket } from 'ws';
import { binaryBlob, customer, customersDocument, customersText, streamLargeArray } from './http-upstream-data.js';
import { generateCertificates } from './postgres.js';

/** How the upstream wants the injected credential. */
export interface UpstreamAuth {
  kind: 'none' | 'bearer' | 'basic' | 'header' | 'query';
  /** Header name for `header` (default `X-Api-Key`), parameter name for `query` (default `api_key`). */
  name?: string;
  /** The credential (basic: `user:password`); default random. */
  secret?: string;
}

/** One request as it arrived (before any check). */
export interface ReceivedRequest {
  method: string;
  /** The request target as sent (path and query). */
  url: string;
  /** Headers by lower-cased name; a repeated header is an array (so a second Authorization shows). */
  headers: Record<string, string | string[] | undefined>;
  /** The whole body (filled when it has been read; empty for upgrades). */
  body: Buffer;
}

/** A running test upstream. */
export interface HttpUpstream {
  /** `https://127.0.0.1:PORT` (or `http://` with `tls: false`). */
  url: string;
  port: number;
  /** PEM CA that signed the server certificate (and the client certificate of mTLS mode). */
  ca: string;
  /** A client pair that mTLS mode accepts (present whenever TLS is on). */
  clientCert?: { cert: string; key: string };
  /** The credential checked, with defaults filled in. */
  auth: Required<UpstreamAuth>;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/** Options of startHttpUpstream. */
export interface HttpUpstreamOptions {
  /** Default: none. */
  auth?: UpstreamAuth;
  /** Default true (HTTPS). */
  tls?: boolean;
  /** Require a client certificate signed by `ca` (TLS only). */
  requireClientCert?: boolean;
}

/** Routes that answer without the credential: they leak it, to prove Warden hides it. */
const LEAKY = new Set(['/redirect-secret', '/error-secret', '/www-auth']);

function resolveAuth(auth: UpstreamAuth | undefined): Required<UpstreamAuth> {
  const kind = auth?.kind ?? 'none';
  const name = auth?.name ?? (kind === 'query' ? 'api_key' : 'X-Api-Key');
  const secret = auth?.secret ?? (kind === 'basic' ? `svc:${randomBytes(12).toString('hex')}` : randomBytes(18).toString('hex'));
  return { kind, name, secret };
}

/** Whether the request carries exactly the expected credential (a repeated header never does). */
function authorised(auth: Required<UpstreamAuth>, req: IncomingMessage, url: URL): boolean {
  const header = (name: string): string | undefined => {
    const values = req.headersDistinct[name.toLowerCase()];
    return values?.length === 1 ? values[0] : undefined;
  };
  switch (auth.kind) {
    case 'none': return true;
    case 'bearer': return header('authorization') === `Bearer ${auth.secret}`;
    case 'basic': return header('authorization') === `Basic ${Buffer.from(auth.secret).toString('base64')}`;
    case 'header': return header(auth.name) === auth.secret;
    case 'query': return url.searchParams.getAll(auth.name).length === 1 && url.searchParams.get(auth.name) === auth.secret;
  }
}

function record(req: IncomingMessage, received: ReceivedRequest[]): ReceivedRequest {
  const headers: Record<string, string | string[] | undefined> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  const entry: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '/', headers, body: Buffer.alloc(0) };
  received.push(entry);
  return entry;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function sse(res: ServerResponse, n: number, ms: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (let i = 1; i <= n && !res.destroyed; i++) {
    if (i > 1 && ms > 0) await new Promise((r) => setTimeout(r, ms));
    res.write(`id: ${i}\nevent: customer\ndata: ${JSON.stringify({ seq: i, email: customer(i).email })}\n\n`);
  }
  res.end();
}

/** Serves one (authorised) request; `entry.body` is filled first. */
async function route(req: IncomingMessage, res: ServerResponse, url: URL, entry: ReceivedRequest, secret: string): Promise<void> {
  const p = url.pathname;
  const num = (name: string, fallback: number): number => Number(url.searchParams.get(name) ?? fallback);
  if (p === '/echo' || p.startsWith('/echo/')) {
    json(res, 200, { method: req.method, path: p, query: url.search.slice(1), headers: entry.headers, body: entry.body.toString('utf8') });
  } else if (p === '/json/customers') {
    json(res, 200, customersDocument());
  } else if (p === '/json/large') {
    res.writeHead(200, { 'content-type': 'application/json' });
    await streamLargeArray(res, Math.round(num('mb', 1) * 1024 * 1024));
  } else if (p === '/gzip/customers' || p === '/br/customers') {
    const raw = Buffer.from(JSON.stringify(customersDocument()));
    const gzip = p.startsWith('/gzip');
    const body = gzip ? zlib.gzipSync(raw) : zlib.brotliCompressSync(raw);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': gzip ? 'gzip' : 'br',
      'content-length': body.length, etag: '"customers-v1"' });
    res.end(body);
  } else if (p === '/text/customers') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(customersText());
  } else if (p === '/binary') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(binaryBlob());
  } else if (p === '/sse') {
    await sse(res, num('n', 3), num('ms', 0));
  } else if (p === '/slow') {
    const ms = num('ms', 100);
    await new Promise((r) => setTimeout(r, ms));
    json(res, 200, { sleptMs: ms });
  } else if (p === '/hang') {
    // Never answers: the socket stays open until the client or close() ends it.
  } else if (p === '/reset') {
    req.socket.destroy();
  } else if (/^\/status\/\d{3}$/.test(p)) {
    json(res, Number(p.slice(8)), { status: Number(p.slice(8)) });
  } else if (p === '/redirect-secret') {
    res.writeHead(302, { location: `https://login.example.com/cb?token=${encodeURIComponent(secret)}` });
    res.end();
  } else if (p === '/error-secret') {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`internal error: credential ${secret} rejected by the database\n`);
  } else if (p === '/www-auth') {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="api", error="invalid_token", token="${secret}"` });
    res.end();
  } else {
    json(res, 404, { error: 'not found', path: p });
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

/** Starts the upstream on a free loopback port. */
export async function startHttpUpstream(options: HttpUpstreamOptions = {}): Promise<HttpUpstream> {
  const auth = resolveAuth(options.auth);
  const tls = options.tls ?? true;
  const certs = await generateCertificates('Warden Test HTTP Upstream CA');
  const client = await generate([{ name: 'commonName', value: 'warden-upstream-client' }], {
    keyType: 'ec', algorithm: 'sha256', ca: { key: certs.caKey, cert: certs.caCert },
    extensions: [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', clientAuth: true }],
  });
  const received: ReceivedRequest[] = [];
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true });

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const entry = record(req, received);
    const url = new URL(req.url ?? '/', 'http://upstream');
    readBody(req).then(async (body) => {
      entry.body = body;
      if (!LEAKY.has(url.pathname) && !authorised(auth, req, url)) { json(res, 401, { error: 'missing or wrong credential' }); return; }
      await route(req, res, url, entry, auth.secret);
    }).catch(() => res.destroy());
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    record(req, received);
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (!authorised(auth, req, url)) { refuseUpgrade(socket, 401, 'Unauthorized'); return; }
    if (url.pathname !== '/ws/echo' && url.pathname !== '/ws/customers') { refuseUpgrade(socket, 404, 'Not Found'); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      if (url.pathname === '/ws/customers') ws.send(JSON.stringify({ type: 'customer', customer: customer(1) }));
    });
  };

  const server = tls
    ? https.createServer({ key: certs.serverKey, cert: certs.serverCert, ca: certs.caCert,
      requestCert: options.requireClientCert ?? false, rejectUnauthorized: options.requireClientCert ?? false }, onRequest)
    : http.createServer(onRequest);
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the test upstream has no port');
  let closed = false;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    port: address.port,
    ca: certs.caCert,
    ...(tls ? { clientCert: { cert: client.cert, key: client.private } } : {}),
    auth,
    received,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const ws of sockets) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
