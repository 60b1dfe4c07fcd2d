/**
 * Turns a listener's failure to bind into a sentence an operator can act on: which listener, which address, and
 * which flag (or environment variable) picks another port. Without it `warden start` died with a Node stack trace.
 * This module only words errors; it never opens a socket.
 */
import { WardenError, toWardenError } from '../errors.js';
import type { ServerConfig } from './config.js';

/** How a listener is named in messages: its label and the option that sets its port. */
export interface ListenerNaming {
  label: string;
  flag: string;
  env: string;
}

/** The control API's naming (protocol listeners bring theirs: server/listeners.ts). */
export const API_LISTENER: ListenerNaming = { label: 'control API', flag: '--api-port', env: 'WARDEN_API_PORT' };

/** The WardenError for a listener that could not bind on `port`; unknown failures stay internal. */
export function listenFailure(err: unknown, listener: ListenerNaming, port: number, config: ServerConfig): WardenError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${config.listenHost}:${port}`;
  const change = `choose another port with ${listener.flag} (or ${listener.env}), or 0 for a free one`;
  if (code === 'EADDRINUSE') {
    return new WardenError('WARDEN_ERR_PORT_IN_USE', `port ${port} is already in use on ${config.listenHost}, so the ` +
      `${listener.label} cannot listen there: ${change}`, { cause: err });
  }
  if (code === 'EACCES') {
    return new WardenError('WARDEN_ERR_PORT_IN_USE', `not allowed to listen on ${where} for the ${listener.label} ` +
      `(ports below 1024 need privileges): ${change}`, { cause: err });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new WardenError('WARDEN_ERR_BAD_REQUEST', `cannot listen on ${config.listenHost}: no such local address; ` +
      'set --listen-host (or WARDEN_LISTEN_HOST) to an address of this machine', { cause: err });
  }
  return toWardenError(err);
}
