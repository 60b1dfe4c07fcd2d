/**
 * Turns a listener's failure to bind into a sentence an operator can act on: which listener, which address, and
 * which flag (or environment variable) picks another port. Without it `warden start` died with a Node stack trace.
 * This module only words errors; it never opens a socket.
 */
import { WardenError, toWardenError } from '../errors.js';
import type { ServerConfig } from './config.js';

/** The listeners `warden start` opens, with the option that sets each one's port. */
const LISTENERS = {
  api: { label: 'control API', flag: '--api-port', env: 'WARDEN_API_PORT', key: 'apiPort' },
  postgres: { label: 'PostgreSQL listener', flag: '--postgres-port', env: 'WARDEN_POSTGRES_PORT', key: 'postgresPort' },
  ssh: { label: 'SSH listener', flag: '--ssh-port', env: 'WARDEN_SSH_PORT', key: 'sshPort' },
} as const;

/** The WardenError for a listener that could not bind; unknown failures stay internal. */
export function listenFailure(err: unknown, which: keyof typeof LISTENERS, config: ServerConfig): WardenError {
  const listener = LISTENERS[which];
  const port = config[listener.key];
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
