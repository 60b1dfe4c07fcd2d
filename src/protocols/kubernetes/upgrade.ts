/**
 * Upgrade requests (kubectl exec, attach, port-forward): refused with a Status until the WebSocket relay is wired
 * in, before any decision and without contacting the cluster, so no stream is ever relayed unjudged or unrecorded.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KubeEngine } from './engine.js';
import { kubeStatus } from './errors.js';
import type { KubeListenerDeps } from './listener.js';
import { writeRawStatus } from './listener.js';

/** Answers one upgrade request. */
export async function handleUpgrade(_engine: KubeEngine, _req: IncomingMessage, socket: Duplex, _head: Buffer,
  _deps: KubeListenerDeps): Promise<void> {
  writeRawStatus(socket, kubeStatus(400, 'BadRequest', 'warden: exec, attach and port-forward are not available through this Warden yet'));
}
