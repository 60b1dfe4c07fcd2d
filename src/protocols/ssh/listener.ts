/**
 * The SSH listener: accepts TCP connections, admits them (login-phase caps overall and per source, shared with the
 * other listeners' logic in server/admission.ts) and hands each one to ssh2's server with Warden's host key, then to
 * the engine. It owns the server socket, the set of open connections and the shared failed-login limiter, so
 * shutdown can stop accepting and close them; live sessions are ended through the session registry.
 * It never reads a caller's bytes itself.
 */
import net from 'node:net';
import ssh2, { type Connection } from 'ssh2';
import { LoginAdmission, type AdmissionLimits } from '../../server/admission.js';
import { AuthFailureLimiter } from './auth-limiter.js';
import { handleConnection, type SshEngineDeps } from './engine.js';
import { initBanner } from './errors.js';
import type { HostKey } from './host-key.js';

/** Default caps on connections in their login phase (see AdmissionLimits). */
export const DEFAULT_SSH_ADMISSION: AdmissionLimits = { maxUnauthenticated: 1000, maxUnauthenticatedPerSource: 100 };

/** What the listener needs beyond the engine's deps. */
export interface SshListenerDeps extends Omit<SshEngineDeps, 'limiter'> {
  hostKey: HostKey;
  admission?: AdmissionLimits;
  limiter?: AuthFailureLimiter;
  /** Keep-alive interval towards callers (default 15 s; 0 disables). */
  callerKeepaliveMs?: number;
}

interface Pending {
  socket: net.Socket;
  release(): void;
}

/** A listening SSH front end. */
export class SshListener {
  private readonly server: net.Server;
  private readonly ssh: ssh2.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly admission: LoginAdmission;
  private readonly limiter: AuthFailureLimiter;
  /** Sockets handed to ssh2, by `address|port`, until ssh2 reports their connection. */
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly deps: SshListenerDeps) {
    this.admission = new LoginAdmission(deps.admission ?? DEFAULT_SSH_ADMISSION);
    this.limiter = deps.limiter ?? new AuthFailureLimiter();
    const keepalive = deps.callerKeepaliveMs ?? 15_000;
    this.ssh = new ssh2.Server({ hostKeys: [deps.hostKey.privateKey], ident: 'Warden',
      ...(keepalive > 0 ? { keepaliveInterval: keepalive, keepaliveCountMax: 3 } : {}) },
    (client, info) => this.connected(client, info));
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Warden's host key fingerprint, for callers to pin (printed at start-up). */
  get note(): string {
    return `SSH host key ${this.deps.hostKey.fingerprint}`;
  }

  /** Starts listening; resolves with the bound port (useful when `port` is 0). */
  async listen(host: string, port: number): Promise<number> {
    await initBanner();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting new connections. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Destroys connections that are still open (call after sessions were terminated). */
  destroyRemaining(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    const ticket = this.admission.admit(socket.remoteAddress);
    if (!('release' in ticket)) {
      // Before any SSH byte: say why in plain text (clients print a non-SSH line they read before the banner).
      socket.end(`${ticket.callerMessage}\r\n`);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    this.sockets.add(socket);
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const entry: Pending = { socket, release: () => ticket.release() };
    this.pending.set(key, entry);
    // A caller that never sends a valid identification never reaches the engine: the same deadline applies.
    const deadline = setTimeout(() => socket.destroy(), this.deps.authTimeoutMs ?? 30_000);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      if (this.pending.get(key) === entry) this.pending.delete(key);
      ticket.release();
    });
    (entry as Pending & { deadline?: NodeJS.Timeout }).deadline = deadline;
    this.ssh.injectSocket(socket);
  }

  private connected(client: Connection, info: { ip: string; port: number }): void {
    const key = `${info.ip}|${info.port}`;
    const entry = this.pending.get(key) as (Pending & { deadline?: NodeJS.Timeout }) | undefined;
    this.pending.delete(key);
    if (entry?.deadline) clearTimeout(entry.deadline);
    const clientAddress = `${info.ip}:${info.port}`;
    handleConnection(client, clientAddress, info.ip, { ...this.deps, limiter: this.limiter }, () => entry?.release(), entry?.socket)
      .catch((err: unknown) => {
        this.deps.logger.error({ err, client: clientAddress }, 'ssh connection handler failed');
        entry?.socket.destroy();
      });
  }
}
