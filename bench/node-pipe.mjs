// A bare Node.js TCP pipe (no parsing, no recording): the floor any Node.js proxy starts from. bench/pg.ts runs it
// beside Warden so the ratio to direct can be read against what Node's socket I/O alone costs on this machine.
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen(listenPort, '127.0.0.1');
