/**
 * The SSH listener: accepts TCP connections, admits them (login-phase caps overall and per source, shared with the
 * other listeners' logic in server/admission.ts) and hands each one to ssh2's server with Warden's host key, then to
 * the engine. The server socket and the open connections are server/socket-listener.ts's; it owns the shared
 * failed-login limiter; shutdown stops accepting and closes them; live sessions are ended through the session registry.
 * It never reads a caller's bytes itself.
 */
import net from 'node:net';
import ssh2, { type Connection } from 'ssh2';
import { LoginAdmission, type AdmissionLimits } from '../../server/admission.js';
import { SocketListener } from '../../server/socket-listener.js';
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
export class SshListener extends SocketListener {
  private readonly ssh: ssh2.Server;
  private readonly admission: LoginAdmission;
  private readonly limiter: AuthFailureLimiter;
  /** Sockets handed to ssh2, by `address|port`, until ssh2 reports their connection. */
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly deps: SshListenerDeps) {
    super(net.createServer({ noDelay: true }));
    this.admission = new LoginAdmission(deps.admission ?? DEFAULT_SSH_ADMISSION);
    this.limiter = deps.limiter ?? new AuthFailureLimiter();
    const keepalive = deps.callerKeepaliveMs ?? 15_000;
    this.ssh = new ssh2.Server({ hostKeys: [deps.hostKey.privateKey], ident: 'Warden',
      ...(keepalive > 0 ? { keepaliveInterval: keepalive, keepaliveCountMax: 3 } : {}) },
    (client, info) => this.connected(client, info));
    this.server.on('connection', (socket: net.Socket) => this.accept(socket));
  }

  /** Warden's host key fingerprint, for callers to pin (printed at start-up). */
  get note(): string {
    return `SSH host key ${this.deps.hostKey.fingerprint}`;
  }

  /** Starts listening once the refusal banner is ready; resolves with the bound port (useful when `port` is 0). */
  override async listen(host: string, port: number): Promise<number> {
    await initBanner();
    return super.listen(host, port);
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
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const entry: Pending = { socket, release: () => ticket.release() };
    this.pending.set(key, entry);
    // A caller that never sends a valid identification never reaches the engine: the same deadline applies.
    const deadline = setTimeout(() => socket.destroy(), this.deps.authTimeoutMs ?? 30_000);
    socket.once('close', () => {
      clearTimeout(deadline);
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
