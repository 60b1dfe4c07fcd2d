/**
 * The HTTP listener: a plain HTTP server (HTTPS with `--http-tls`) on `--http-port`, serving each target under
 * `/t/<target>/...` and at `<target>.<--http-domain>`. It owns the server socket and the open connections, so
 * shutdown can stop accepting and close them; live sessions are ended through the session registry.
 *
 * SKELETON: answers 501 until the engine lands.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import type { AdmissionLimits } from '../../server/admission.js';
import { SocketListener } from '../../server/socket-listener.js';
import type { TlsMaterial } from '../../server/tls.js';
import type { Policy } from '../../policy/schema.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { ProtocolDefinition } from '../../session/protocol.js';
import type { SessionRegistry } from '../../session/registry.js';

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
  /** Idle gap after which a caller's HTTP session with a target ends (ms). */
  sessionIdleMs?: number;
  /** Most of a request or response body kept in a recording (bytes). */
  recordBodyBytes?: number;
}

/** A listening HTTP front end. */
export class HttpListener extends SocketListener {
  constructor(readonly deps: HttpListenerDeps) {
    const server = http.createServer((_req, res) => {
      res.writeHead(501, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Not Implemented', status: 501 }));
    });
    super(server);
  }
}
