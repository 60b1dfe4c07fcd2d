/**
 * The Kubernetes listener: an HTTPS server with Warden's TLS certificate, serving each target under
 * `/k8s/<target>/...` (kubectl accepts a path in a cluster's `server` URL). It owns the server socket and the open
 * connections, so shutdown can stop accepting and close them; live sessions are ended through the session
 * registry. Malformed requests and oversized headers get a Status from Node's parser hook; nothing here decides.
 */
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdmissionLimits } from '../../server/admission.js';
import { ConnectionAdmission } from '../../server/connection-admission.js';
import { SocketListener } from '../../server/socket-listener.js';
import type { TlsMaterial } from '../../server/tls.js';
import { KubeEngine, type KubeEngineDeps } from './engine.js';
import { kubeStatus, type KubeStatus } from './errors.js';
import { handleUpgrade } from './upgrade.js';

/** Largest request head (request line and headers) a caller may send. */
export const MAX_HEADER_BYTES = 32 * 1024;

/** Default caps on connections in their login phase (see AdmissionLimits), as for the other listeners. */
export const DEFAULT_KUBE_ADMISSION: AdmissionLimits = { maxUnauthenticated: 1000, maxUnauthenticatedPerSource: 100 };

/** What the listener needs beyond the engine's deps. */
export interface KubeListenerDeps extends KubeEngineDeps {
  tls: TlsMaterial;
  /** Caps on connections that have not yet opened a session (default DEFAULT_KUBE_ADMISSION). */
  admission?: AdmissionLimits;
  /** Time a caller has to complete its TLS handshake and send a request head (default 30 s). */
  loginTimeoutMs?: number;
}

/** Writes a Status as a whole HTTP/1.1 answer on a raw socket (for parser errors and refused upgrades). */
export function writeRawStatus(socket: Duplex, status: KubeStatus): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(status);
  socket.end(`HTTP/1.1 ${status.code} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: `
    + `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A listening Kubernetes front end (the shared SocketListener owns the server socket and tracks connections). */
export class KubeListener extends SocketListener {
  readonly engine: KubeEngine;
  private readonly admission: ConnectionAdmission;

  constructor(private readonly deps: KubeListenerDeps) {
    const timeout = deps.loginTimeoutMs ?? 30_000;
    const server = https.createServer({
      cert: deps.tls.cert, key: deps.tls.key, maxHeaderSize: MAX_HEADER_BYTES, handshakeTimeout: timeout,
      headersTimeout: timeout, requestTimeout: 0, keepAliveTimeout: 30_000, noDelay: true,
      // HTTP/1.1 only: every request is judged alone, and Go's client keeps one connection per concurrent request.
      ALPNProtocols: ['http/1.1'],
    });
    super(server);
    this.admission = new ConnectionAdmission(deps.admission ?? DEFAULT_KUBE_ADMISSION, deps.logger, 'kubernetes');
    this.engine = new KubeEngine({ ...deps, authenticated: (socket) => this.admission.leftLogin(socket) });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { this.engine.handle(req, res).catch(() => res.destroy()); });
    server.on('connection', (socket: Socket) => this.admission.admit(socket));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      handleUpgrade(this.engine, req, socket, head, deps).catch(() => socket.destroy());
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      writeRawStatus(socket, tooLarge ? kubeStatus(431, 'RequestHeaderFieldsTooLarge', `warden: the request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB`)
        : kubeStatus(400, 'BadRequest', 'warden: malformed HTTP request'));
    });
    this.server.on('tlsClientError', () => {});
  }

  /** Stops accepting new connections. */
  override stopAccepting(): Promise<void> {
    // Not waiting for open keep-alive connections: live sessions are ended through the registry, the rest after.
    this.server.close();
    (this.server as https.Server).closeIdleConnections();
    return Promise.resolve();
  }

  /** Destroys connections still open (after live sessions were terminated) and the upstream pools. */
  override destroyRemaining(): void {
    super.destroyRemaining();
    this.engine.pools.close().catch(() => {});
  }
}
