/**
 * Login-phase admission of the connections of an HTTP-based listener (Kubernetes, HTTP): each new TCP connection takes
 * a LoginAdmission ticket until a session opens on it or it closes; past the caps it is closed at once (before any
 * TLS handshake). Tickets are kept by `address|port`, since the TLS socket a request arrives on is not the TCP
 * socket that was counted.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LoginAdmission, type AdmissionLimits, type AdmissionTicket } from './admission.js';

/** The login-phase tickets of one listener's connections. */
export class ConnectionAdmission {
  private readonly admission: LoginAdmission;
  private readonly tickets = new Map<string, AdmissionTicket>();

  /** `label`: how the log names the listener's connections (`kubernetes`, `http`). */
  constructor(limits: AdmissionLimits, private readonly logger: Logger, private readonly label: string) {
    this.admission = new LoginAdmission(limits);
  }

  /** Counts a new connection (the server's `connection` event); destroys it past the caps. */
  admit(socket: Socket): void {
    socket.on('error', () => {});
    const ticket = this.admission.admit(socket.remoteAddress);
    if (!('release' in ticket)) {
      this.logger.warn({ client: socket.remoteAddress, reason: ticket.message }, `${this.label} connection refused`);
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

  /** A session opened on the connection of `socket`: it no longer counts as in its login phase. */
  leftLogin(socket: Socket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.tickets.get(key)?.release();
    this.tickets.delete(key);
  }
}
