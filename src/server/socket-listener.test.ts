/**
 * SocketListener with the servers protocol listeners use: a plain net.Server (PostgreSQL, SSH) and a node:https
 * server (Kubernetes): the bound port when asked for 0, connections tracked and destroyed by destroyRemaining, no new
 * connection after stopAccepting, and a busy port reported as an error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SocketListener } from './socket-listener.js';
import { loadOrCreateTls } from './tls.js';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

async function exercise(listener: SocketListener): Promise<void> {
  const port = await listener.listen('127.0.0.1', 0);
  assert.ok(port > 0);
  const socket = await connect(port);
  socket.on('error', () => {});
  for (let i = 0; i < 100 && listener.open === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(listener.open, 1);
  const stopped = listener.stopAccepting();
  await assert.rejects(connect(port), /ECONNREFUSED/);
  listener.destroyRemaining();
  await closed(socket);
  await stopped;
  assert.equal(listener.open, 0);
}

describe('SocketListener', () => {
  it('serves a net.Server: bound port, tracked connections, stop and destroy', async () => {
    await exercise(new SocketListener(net.createServer()));
  });

  it('serves a node:https server the same way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-socket-listener-'));
    try {
      const tls = await loadOrCreateTls(dir);
      await exercise(new SocketListener(https.createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.end('ok'))));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects when the port is taken', async () => {
    const first = new SocketListener(net.createServer());
    const port = await first.listen('127.0.0.1', 0);
    try {
      await assert.rejects(new SocketListener(net.createServer()).listen('127.0.0.1', port), /EADDRINUSE/);
    } finally {
      await first.stopAccepting();
    }
  });
});
