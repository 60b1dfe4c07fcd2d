/**
 * The PostgreSQL listener: accepts TCP connections and hands each one to the engine. It owns the server socket and
 * the set of connections still in their startup phase, so shutdown can stop accepting and close them; live
 * sessions are ended through the session registry.
 */
import net from 'node:net';
import { handleConnection, type PostgresEngineDeps } from './engine.js';

/** A listening PostgreSQL front end. */
export class PostgresListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly deps: PostgresEngineDeps) {
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      void handleConnection(socket, this.deps);
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

  /** Stops accepting new connections. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Destroys connections that are still open (call after sessions were terminated). */
  destroyRemaining(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
