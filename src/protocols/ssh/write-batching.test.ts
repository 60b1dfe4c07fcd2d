/**
 * Write coalescing: while one socket's input is handled both sockets are corked (writes made then leave together in
 * the same loop turn), every byte arrives in order, and after stop() input no longer corks anything.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { coalesceWrites } from './write-batching.js';

/** A connected loopback pair: [Warden's end, the peer's end]. */
async function pair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const peer = net.connect(port, '127.0.0.1');
  const [mine] = (await accepted) as [net.Socket];
  await once(peer, 'connect');
  server.close();
  return [mine, peer];
}

function collect(socket: net.Socket): () => Buffer {
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => parts.push(d));
  return () => Buffer.concat(parts);
}

describe('coalesceWrites', () => {
  it('corks both sockets while input is handled, uncorks in the same loop turn, and keeps every byte in order', async () => {
    const [caller, callerPeer] = await pair();
    const [target, targetPeer] = await pair();
    const stop = coalesceWrites(caller, target);
    const seenCorked: number[] = [];
    const atTarget = collect(targetPeer);
    caller.on('data', (d: Buffer) => {
      seenCorked.push(target.writableCorked, caller.writableCorked);
      for (let i = 0; i < d.length; i++) target.write(d.subarray(i, i + 1));
    });
    callerPeer.write('hello, target');
    while (atTarget().length < 13) await new Promise((r) => setTimeout(r, 5));
    assert.equal(atTarget().toString(), 'hello, target');
    assert.ok(seenCorked.length > 0 && seenCorked.every((n) => n === 1), `corked while handling input: ${seenCorked}`);
    assert.equal(target.writableCorked, 0);
    assert.equal(caller.writableCorked, 0);

    stop();
    seenCorked.length = 0;
    callerPeer.write('!');
    while (atTarget().length < 14) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seenCorked, [0, 0]);
    for (const s of [caller, callerPeer, target, targetPeer]) s.destroy();
  });
});
