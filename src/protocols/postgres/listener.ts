/**
 * The PostgreSQL listener: accepts TCP connections and hands each one to the engine. The server socket and the
 * connections still open are server/socket-listener.ts's; it owns the admission of connections in their login phase (capped overall and per
 * source, refused with SQLSTATE 53300 past the caps), so shutdown can stop accepting and close them; live sessions
 * are ended through the session registry. It never reads a caller's bytes itself.
 */
import net from 'node:net';
import type { WardenError } from '../../errors.js';
import { LoginAdmission, type AdmissionLimits } from '../../server/admission.js';
import { SocketListener } from '../../server/socket-listener.js';
import { CancelKeys } from './cancel-keys.js';
import { handleConnection, type PostgresEngineDeps } from './engine.js';
import { encodeWardenError } from './errors.js';

/** Default caps on connections in their login phase (see AdmissionLimits). */
export const DEFAULT_ADMISSION: AdmissionLimits = { maxUnauthenticated: 1000, maxUnauthenticatedPerSource: 100 };

/** How long a refused caller gets to read its error before the socket is destroyed. */
const REFUSAL_LINGER_MS = 2000;

/** Logs refusals at most this often, with a count, so a flood does not become a flood of log lines. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** A listening PostgreSQL front end. */
export class PostgresListener extends SocketListener {
  private readonly admission: LoginAdmission;
  private refusedSinceLog = 0;
  private lastRefusalLog = 0;

  private readonly deps: PostgresEngineDeps & { admission?: AdmissionLimits };

  constructor(deps: Omit<PostgresEngineDeps, 'cancelKeys'> & { cancelKeys?: CancelKeys; admission?: AdmissionLimits }) {
    super(net.createServer({ noDelay: true, pauseOnConnect: false }));
    this.deps = { ...deps, cancelKeys: deps.cancelKeys ?? new CancelKeys() };
    this.admission = new LoginAdmission(deps.admission ?? DEFAULT_ADMISSION);
    this.server.on('connection', (socket: net.Socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    const ticket = this.admission.admit(socket.remoteAddress);
    if (!('release' in ticket)) {
      this.refuse(socket, ticket);
      return;
    }
    socket.once('close', () => ticket.release());
    handleConnection(socket, this.deps, () => ticket.release()).catch((err: unknown) => {
      // handleConnection handles its own failures; anything that still escapes ends this connection only.
      this.deps.logger.error({ err, client: socket.remoteAddress }, 'connection handler failed');
      socket.destroy();
    });
  }

  /** Answers a connection past the caps with a FATAL 53300 before reading anything from it (libpq shows it). */
  private refuse(socket: net.Socket, err: WardenError): void {
    socket.on('error', () => {});
    socket.end(encodeWardenError(err));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLog >= REFUSAL_LOG_INTERVAL_MS) {
      this.deps.logger.warn({ refused: this.refusedSinceLog, pending: this.admission.pending, client: socket.remoteAddress },
        `connections refused: ${err.message}`);
      this.refusedSinceLog = 0;
      this.lastRefusalLog = now;
    }
  }
}
