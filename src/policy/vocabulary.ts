/**
 * Which classes and match keys policies may name: those of the protocols the process registered. The server (and
 * any other entry point that validates policies) installs its ProtocolRegistry once at start-up; the policy schema
 * reads it here, so the policy module never imports a protocol. Validating a policy before any registry is installed
 * is an internal error, never a silently narrower schema.
 */
import { WardenError } from '../errors.js';
import type { ProtocolRegistry } from '../session/protocol-registry.js';

let installed: ProtocolRegistry | undefined;

/** Makes `registry` the protocols policies are validated against (idempotent for the same registry contents). */
export function installPolicyProtocols(registry: ProtocolRegistry): void {
  installed = registry;
}

/** The installed registry; throws when none was installed (a wiring mistake, fail closed). */
export function policyProtocols(): ProtocolRegistry {
  if (installed === undefined) {
    throw new WardenError('WARDEN_ERR_INTERNAL', 'no protocols registered for policy validation', { public: false });
  }
  return installed;
}
