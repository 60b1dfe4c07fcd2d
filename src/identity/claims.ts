/**
 * The claims inside a Warden token and their translation into a Subject. Verification of signature and times
 * happens in tokens.ts with jose; this module checks the *shape* of the Warden-specific claims, because a
 * correctly signed token from an older or newer Warden must still never yield a malformed Subject.
 * Pure functions only: no keys, no store, no clock.
 */
import type { JWTPayload } from 'jose';
import type { Actor, PrincipalKind, Subject } from '../session/types.js';

/** Principal kinds a token may carry. */
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['user', 'service', 'agent'];

/** The claims of a verified Warden token, with the registered ones made mandatory. */
export interface WardenClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
  kind: PrincipalKind;
  groups: string[];
  targets: string[];
  // Delegation (a later issue) adds RFC 8693's nested `act` claim: { sub, kind, act?: {...} }, innermost last.
}

/** True for an array of non-empty strings. */
export function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0);
}

/** True for a principal kind Warden knows. */
export function isPrincipalKind(value: unknown): value is PrincipalKind {
  return typeof value === 'string' && (PRINCIPAL_KINDS as readonly string[]).includes(value);
}

/** Narrows a jose payload to WardenClaims, or returns undefined when any Warden claim is missing or ill-typed. */
export function asWardenClaims(payload: JWTPayload): WardenClaims | undefined {
  const p = payload as Record<string, unknown>;
  const ok =
    typeof p.iss === 'string' &&
    (typeof p.aud === 'string' || isStringList(p.aud)) &&
    typeof p.sub === 'string' && p.sub.length > 0 &&
    typeof p.jti === 'string' && p.jti.length > 0 &&
    typeof p.iat === 'number' && typeof p.nbf === 'number' && typeof p.exp === 'number' &&
    isPrincipalKind(p.kind) && isStringList(p.groups) && isStringList(p.targets);
  return ok ? (p as unknown as WardenClaims) : undefined;
}

/**
 * The delegation chain of a token, outermost first. Empty until delegation lands: then this reads the nested
 * `act` claim (RFC 8693 section 4.1) and turns it into Actors, and `asWardenClaims` validates its shape.
 */
export function chainFromClaims(_claims: WardenClaims): Actor[] {
  return [];
}

/** The Subject a verified token stands for. */
export function subjectFromClaims(claims: WardenClaims): Subject {
  return {
    id: claims.sub,
    kind: claims.kind,
    groups: [...claims.groups],
    chain: chainFromClaims(claims),
    tokenId: claims.jti,
    targets: [...claims.targets],
    expiresAt: claims.exp,
  };
}
