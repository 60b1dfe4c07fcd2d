/**
 * The protocols this build of Warden speaks, in one registry. Only process entry points (the server, the CLI) and
 * tests import this module; the pipeline and policy evaluation receive the registry it builds and never import a
 * protocol themselves.
 */
import { ProtocolRegistry } from '../session/protocol-registry.js';
import { postgresProtocol } from './postgres/definition.js';
import { sshProtocol } from './ssh/definition.js';

/** A registry holding every built-in protocol (postgres, ssh). */
export function builtinProtocols(): ProtocolRegistry {
  return new ProtocolRegistry([postgresProtocol, sshProtocol]);
}
