/**
 * `warden targets test` of every built-in protocol, by protocol name: the control API receives this map (like the
 * protocol registry) and never imports a protocol's diagnosis itself. Only process entry points and tests import
 * this module.
 */
import type { Credentials, Target } from '../session/types.js';
import { diagnoseHttpTarget } from './http/diagnose.js';
import { diagnoseKubeTarget } from './kubernetes/diagnose.js';
import { diagnoseTarget, type Diagnosis } from './postgres/diagnose.js';
import { diagnoseSshTarget } from './ssh/diagnose.js';

/** Tests one target step by step; `credentials` decrypts its stored secrets only when a step needs them. Never throws. */
export type TargetDiagnoser = (target: Target, credentials: () => Promise<Credentials>) => Promise<Diagnosis>;

/** The diagnosers of the built-in protocols. */
export function builtinDiagnosers(): Readonly<Record<string, TargetDiagnoser>> {
  return {
    postgres: (target, credentials) => diagnoseTarget(target as Extract<Target, { type: 'postgres' }>, credentials),
    ssh: (target) => diagnoseSshTarget(target as Extract<Target, { type: 'ssh' }>),
    kubernetes: (target, credentials) => diagnoseKubeTarget(target as Extract<Target, { type: 'kubernetes' }>, credentials),
    http: (target, credentials) => diagnoseHttpTarget(target as Extract<Target, { type: 'http' }>, credentials),
  };
}
