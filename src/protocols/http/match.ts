/**
 * What the HTTP policy match keys mean for one analysed request (src/analysis/http/analyse.ts sets the attributes),
 * with the object semantics of the other protocols: a deny or require_approval rule (restrictive) holds when the
 * request MAY match; an allow rule (permissive) only when everything it establishes matches.
 *
 * SKELETON: keys and schemas fixed; semantics completed with the analyser.
 */
import { z } from 'zod';
import type { AnalysedUnit, MatchConditions } from '../../session/protocol.js';

const globs = z.array(z.string().min(1)).min(1);

/** The HTTP match keys and the schema of each value. */
export const HTTP_MATCH_KEYS = {
  methods: globs,
  paths: globs,
  query: globs,
  jsonBody: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean(), z.null()])),
} as const;

/** True when the HTTP conditions of `match` hold for `unit` (one request). */
export function httpUnitMatches(conditions: MatchConditions, unit: AnalysedUnit, restrictive: boolean): boolean {
  const match = conditions as { methods?: string[] };
  const methods = unit.attributes.methods;
  if (match.methods) {
    if (methods === undefined) return restrictive;
    if (!methods.some((m) => match.methods!.includes(m))) return false;
  }
  return true;
}
