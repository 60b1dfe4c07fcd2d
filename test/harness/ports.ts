/**
 * Free TCP ports for tests and benchmarks, so servers started in parallel never collide on a fixed number.
 * Owns nothing but a momentary listener; it must never keep a port open (the caller binds it right after).
 */
import net from 'node:net';

/**
 * Asks the kernel for a free port on `host` (listen on port 0, read it, close). Another process may still take
 * the port before the caller binds it; callers that start a server retry on "address in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not read the port of a listener on ${host}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}
