/**
 * What every protocol listener does with its server socket, whatever the protocol: listen on a host and port (and
 * report the bound port when asked for 0), stop accepting, and destroy the connections still open once live sessions
 * were ended. It works with any `net.Server`, so also with `tls.Server` and `node:https` servers (they are
 * `net.Server`s): every connection the server accepts is tracked through its `connection` event.
 * Protocol listeners extend it and decide what to do with each connection; it never reads a byte.
 */
import type net from 'node:net';

/** A server socket and the connections it accepted. */
export class SocketListener {
  private readonly sockets = new Set<net.Socket>();

  /** `server`: a net, tls or https server, not listening yet. */
  constructor(protected readonly server: net.Server) {
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts listening; resolves with the bound port (useful when `port` is 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting new connections (those open stay until they end or destroyRemaining). */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Destroys connections that are still open (call after sessions were terminated). */
  destroyRemaining(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Connections open now. */
  get open(): number {
    return this.sockets.size;
  }
}
