/**
 * The HTTP listener: plain HTTP (HTTPS with `--http-tls`, Warden's TLS pair) on `--http-port`, serving each target
 * under `/t/<target>/...` and at `<target>.<--http-domain>` (engine.ts). It owns the server socket and the open
 * connections, so shutdown can stop accepting and close them; live sessions are ended through the session registry.
 * Connections are admitted in their login phase like every listener's (until a request opens a session on them).
 * Bad input is answered before the engine sees it, each time with a problem document: request heads over
 * MAX_HEADER_BYTES (431), heads or bodies that arrive too slowly (408), anything Node's strict parser refuses
 * (conflicting Content-Length/Transfer-Encoding, obs-fold, bare LF, bad chunking: 400), CONNECT (405).
 */
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { LoginAdmission, type AdmissionLimits, type AdmissionTicket } from '../../server/admission.js';
import { SocketListener } from '../../server/socket-listener.js';
import type { TlsMaterial } from '../../server/tls.js';
import type { Policy } from '../../policy/schema.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { ProtocolDefinition } from '../../session/protocol.js';
import type { SessionRegistry } from '../../session/registry.js';
import { WardenError } from '../../errors.js';
import { HttpEngine } from './engine.js';
import { HttpStatusError, problemOf, writeRawProblem } from './errors.js';
import { handleUpgrade } from './upgrade.js';

/** Largest request head (request line and headers) a caller may send. */
export const MAX_HEADER_BYTES = 32 * 1024;
/** Time a caller has to send a whole request, body included, once its head arrived (default 5 min). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Default caps on connections in their login phase, as for the other listeners. */
export const DEFAULT_HTTP_ADMISSION: AdmissionLimits = { maxUnauthenticated: 1000, maxUnauthenticatedPerSource: 100 };

/** What the HTTP listener is built from. */
export interface HttpListenerDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  logger: Logger;
  policies: { current(): readonly Policy[] };
  /** The http protocol definition whose analyser judges requests. */
  protocol: ProtocolDefinition;
  /** Warden's TLS pair, used when `tls` is true. */
  tlsMaterial: TlsMaterial;
  /** Serve HTTPS instead of plain HTTP. */
  tls: boolean;
  /** The domain under which `<target>.<domain>` names a target; null: path-prefix routes only. */
  domain: string | null;
  /** Caps on connections that have not yet opened a session. */
  admission?: AdmissionLimits;
  /** Time a caller has to send a request head (ms). */
  loginTimeoutMs?: number;
  /** Time a caller has to send a whole request (ms; default DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Idle gap after which a caller's HTTP session with a target ends (ms). */
  sessionIdleMs?: number;
  /** Most of a request or response body kept in a recording (bytes). */
  recordBodyBytes?: number;
}

/** The problem document for an error Node's HTTP parser or its timers raised on a connection. */
function clientErrorProblem(err: NodeJS.ErrnoException): WardenError {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return new HttpStatusError(431, 'WARDEN_ERR_MESSAGE_TOO_LARGE', `the request head is larger than ${MAX_HEADER_BYTES / 1024} KiB`);
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new HttpStatusError(408, 'WARDEN_ERR_BAD_REQUEST', 'the request did not arrive in time');
  }
  return new WardenError('WARDEN_ERR_BAD_REQUEST', `malformed HTTP request (${String(err.code ?? 'parse error').replace(/^HPE_/, '')}): `
    + 'Warden accepts only strict HTTP/1.1 (one Content-Length or chunked, CRLF line ends, no folded headers)');
}

/** A listening HTTP front end. */
export class HttpListener extends SocketListener {
  readonly engine: HttpEngine;
  private readonly admission: LoginAdmission;
  private readonly tickets = new Map<string, AdmissionTicket>();

  constructor(readonly deps: HttpListenerDeps) {
    const headersTimeout = deps.loginTimeoutMs ?? 30_000;
    const options: http.ServerOptions = { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout,
      requestTimeout: Math.max(deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, headersTimeout + 1), keepAliveTimeout: 30_000,
      noDelay: true, insecureHTTPParser: false, joinDuplicateHeaders: false, connectionsCheckingInterval: 1000 };
    const server = deps.tls
      ? https.createServer({ ...options, cert: deps.tlsMaterial.cert, key: deps.tlsMaterial.key, handshakeTimeout: headersTimeout,
        ALPNProtocols: ['http/1.1'] })
      : http.createServer(options);
    super(server);
    this.admission = new LoginAdmission(deps.admission ?? DEFAULT_HTTP_ADMISSION);
    this.engine = new HttpEngine({ pipeline: deps.pipeline, registry: deps.registry, logger: deps.logger, protocol: deps.protocol,
      domain: deps.domain, tls: deps.tls, sessionIdleMs: deps.sessionIdleMs ?? 300_000, recordBodyBytes: deps.recordBodyBytes ?? 64 * 1024,
      authenticated: (socket) => this.leftLogin(socket) });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { this.engine.handle(req, res).catch(() => res.destroy()); });
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      handleUpgrade(this.engine, req, socket, head).catch(() => socket.destroy());
    });
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      writeRawProblem(socket, problemOf(new HttpStatusError(405, 'WARDEN_ERR_BAD_REQUEST',
        'Warden is not a forward proxy: CONNECT is refused; send requests to http://WARDEN/t/<target>/...'), randomUUID()));
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // A connection whose answer is already under way cannot take another one: it is cut.
      const busy = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (busy?.headersSent === true || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      writeRawProblem(socket, problemOf(clientErrorProblem(err), randomUUID()));
    });
    server.on('tlsClientError', () => {});
  }

  /** Counts a new connection in its login phase (until a session opens on it, or it closes); past the caps it is closed. */
  private admit(socket: Socket): void {
    socket.on('error', () => {});
    const ticket = this.admission.admit(socket.remoteAddress);
    if (!('release' in ticket)) {
      this.deps.logger.warn({ client: socket.remoteAddress, reason: ticket.message }, 'http connection refused');
      socket.destroy();
      return;
    }
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.tickets.set(key, ticket);
    socket.once('close', () => {
      if (this.tickets.get(key) === ticket) this.tickets.delete(key);
      ticket.release();
    });
  }

  /** A session opened for a request on `socket`: the connection no longer counts as in its login phase. */
  private leftLogin(socket: Socket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.tickets.get(key)?.release();
    this.tickets.delete(key);
  }

  /** Stops accepting new connections (live sessions are ended through the registry, the rest after). */
  override stopAccepting(): Promise<void> {
    this.server.close();
    (this.server as http.Server).closeIdleConnections();
    return Promise.resolve();
  }

  /** Destroys connections still open, the sessions left and the upstream pools. */
  override destroyRemaining(): void {
    super.destroyRemaining();
    this.engine.sessions.closeAll('Warden is shutting down').catch(() => {});
    this.engine.pools.close().catch(() => {});
  }
}
