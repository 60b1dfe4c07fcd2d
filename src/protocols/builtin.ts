/**
 * The protocols this build of Warden speaks, in one registry. Only process entry points (the server, the CLI) and
 * tests import this module; the pipeline and policy evaluation receive the registry it builds and never import a
 * protocol themselves.
 */
import { ProtocolRegistry } from '../session/protocol-registry.js';
import { postgresProtocol } from './postgres/definition.js';
import { analyzeShell, loadShellParser } from '../analysis/shell/index.js';
import { createSshProtocol } from './ssh/definition.js';
import { createKubernetesProtocol } from './kubernetes/definition.js';
import { httpProtocol } from './http/definition.js';

/**
 * A registry holding every built-in protocol: postgres, ssh, kubernetes and http, the last two with the shell analyser of
 * src/analysis/shell (kubernetes judges an exec's command with it). Its parser loads once (loadShellParser caches).
 */
export function builtinProtocols(): ProtocolRegistry {
  const shell = { analyse: analyzeShell, init: loadShellParser };
  return new ProtocolRegistry([postgresProtocol, createSshProtocol(shell), createKubernetesProtocol(shell), httpProtocol]);
}
