/**
 * Test support: importing this module validates policies against the built-in protocols, as `warden start` does
 * (server.ts installs its registry). Never imported by production code.
 */
import { installPolicyProtocols } from '../policy/vocabulary.js';
import { builtinProtocols } from './builtin.js';

installPolicyProtocols(builtinProtocols());
