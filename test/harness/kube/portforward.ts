/**
 * `pods/portforward` over WebSocket in the kubelet's channel protocol (subprotocol `v4.channel.k8s.io`, or none):
 * `?ports=P1,P2` opens, for the i-th port, data channel 2i and error channel 2i+1, each announced by a first frame
 * holding the port as 2 little-endian bytes. Behind every port is an echo service: bytes sent on a data channel come
 * back on it. kubectl itself (>= 1.31) forwards ports by tunnelling SPDY over the WebSocket
 * (`SPDY/3.1+portforward.k8s.io`), which this server does not speak (400; kubectl then tries SPDY, see the server's
 * doc comment): this is for gateways and clients that relay the channel protocol.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { badRequest } from './status.js';

/** One port-forward session as the server saw it. */
export interface PortForwardRecord {
  namespace: string;
  pod: string;
  ports: number[];
  protocol: string;
  /** Bytes received for each port (echoed back). */
  received: Record<number, string>;
  closed: boolean;
}

const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (offered) => (offered.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
});

/** The ports of a port-forward request (400 as the real server words a missing or bad one). */
export function forwardedPorts(query: URLSearchParams): number[] {
  const ports = query.getAll('ports').flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p !== '');
  if (ports.length === 0) throw badRequest('query parameter "port" is required');
  return ports.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`unable to parse "${p}" as a port: invalid port`);
    return n;
  });
}

/** Whether the upgrade offers a port-forward protocol this server speaks (v4.channel.k8s.io, or no subprotocol). */
export function offersPortForwardProtocol(req: IncomingMessage): boolean {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  return offered.length === 0 || offered.includes('v4.channel.k8s.io');
}

/** Upgrades `req` and echoes each forwarded port's bytes until the client leaves. */
export function servePortForward(req: IncomingMessage, socket: Duplex, head: Buffer, record: PortForwardRecord): void {
  wss.handleUpgrade(req, socket, head, (ws) => {
    record.protocol = ws.protocol;
    record.ports.forEach((port, i) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port);
      ws.send(Buffer.concat([Buffer.from([2 * i]), prefix]));
      ws.send(Buffer.concat([Buffer.from([2 * i + 1]), prefix]));
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const port = record.ports[channel / 2];
      if (channel % 2 !== 0 || port === undefined) return; // only data channels carry bytes to a port
      record.received[port] = (record.received[port] ?? '') + data.subarray(1).toString('utf8');
      ws.send(data);
    });
    ws.on('close', () => (record.closed = true));
  });
}
