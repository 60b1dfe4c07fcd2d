/**
 * One port forward over `v4.channel.k8s.io` (websocket-relay.ts did both handshakes): the caller's data channels go
 * up, the server's data and error channels come down, each server channel's port prefix checked against the ports
 * the request named (channel-codec.ts). The data is relayed as is, like an SSH forward's: class `exec`, which the
 * engine's decision required, is what allows it. Recorded: the pod, each port with the bytes each way and the
 * server's error texts, and the duration.
 * What it must never do: pass a message on a channel outside the request's ports, or a server message whose port
 * prefix names another port.
 */
import { PortForwardDecoder, encodeFrame, encodePortPrefix, portChannel } from './channel-codec.js';
import type { RelayContext, StreamRelay } from './relay-context.js';
import type { WsPair } from './ws-pair.js';

/** Most bytes of error text kept per port for the recording. */
const MAX_ERROR_TEXT = 1024;

/** Relays one port forward to `ports` (in the order of the request's `ports` query). */
export function relayPortForward(ctx: RelayContext, pair: WsPair, ports: readonly number[]): StreamRelay {
  const { session, pipeline, command } = ctx;
  const started = Date.now();
  const decoder = new PortForwardDecoder(ports);
  const stats = ports.map((port) => ({ port, bytesIn: 0, bytesOut: 0, errors: '' }));
  let ending: string | undefined;
  let refused = 0;
  const drop = (from: string, reason: string): void => {
    if (refused++ < 10) pipeline.onEvent(session, 'kubernetes.stream.dropped', { from, reason });
  };

  pair.onMessage('caller', (message) => {
    if (ending !== undefined || message.length === 0) return;
    const channel = message[0];
    const portIndex = channel >> 1;
    if ((channel & 1) === 1 || portIndex >= ports.length) return drop('caller', `data on channel ${channel}`);
    stats[portIndex].bytesIn += message.length - 1;
    pair.send('upstream', message);
  });

  pair.onMessage('upstream', (message) => {
    if (ending !== undefined) return;
    for (const frame of decoder.push(message)) {
      if (frame.kind === 'malformed') {
        drop('upstream', frame.reason);
        return terminate('the API server sent a port-forward message Warden cannot read');
      }
      if (frame.kind === 'data') stats[frame.portIndex].bytesOut += frame.data.length;
      if (frame.kind === 'error') {
        const s = stats[frame.portIndex];
        s.errors = (s.errors + frame.data.toString('utf8')).slice(0, MAX_ERROR_TEXT);
      }
    }
    pair.send('caller', message);
  });

  pair.upstream.once('close', (code: number) => {
    ending ??= 'the stream ended';
    pair.close('caller', code);
  });
  pair.caller.once('close', () => {
    ending ??= 'the caller closed the stream';
    pair.close('upstream', 1000);
  });

  const terminate = (reason: string): void => {
    if (ending?.startsWith('terminated: ')) return;
    ending = `terminated: ${reason}`;
    // Each port's error channel gets the reason (with its port prefix when the server has not sent it yet).
    ports.forEach((port, i) => {
      const channel = portChannel(i, true);
      const text = Buffer.from(`warden: session ended: ${reason}`);
      pair.send('caller', encodeFrame(channel, decoder.prefixed(channel) ? text : Buffer.concat([encodePortPrefix(port), text])));
    });
    pair.destroy('upstream');
    pair.close('caller', 1000, 'warden: session ended');
  };

  const closed = pair.closed.then(() => {
    const outcome = ending?.startsWith('terminated: ') ? ending : 'closed';
    pipeline.onOutcome(session, command, { durationMs: Date.now() - started, tag: outcome });
    pipeline.onEvent(session, 'kubernetes.portforward.end', { outcome, ports: stats });
  });
  return { closed, terminate };
}
