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

/** Most links a delegation chain may have (the caller included); deeper nesting is refused as malformed. */
export const MAX_CHAIN_LINKS = 8;

/**
 * RFC 8693 section 4.1 `act`: the party acting. The outermost `act` is the current actor (the caller); a nested
 * `act` is the actor before it. `kind` is Warden's addition so policies can tell a service account from an agent.
 */
export interface ActClaim {
  sub: string;
  kind: PrincipalKind;
  act?: ActClaim;
}

/**
 * The claims of a verified Warden token, with the registered ones made mandatory. For a delegated token `sub` and
 * `kind` name the principal at the origin of the chain and `act` the actors since, the caller outermost (RFC 8693);
 * `groups`, `targets` and `classes` are the caller's narrowed scope.
 */
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
  act?: ActClaim;
  /** Statement classes the token may run; absent means every class. */
  classes?: string[];
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
    isPrincipalKind(p.kind) && isStringList(p.groups) && isStringList(p.targets) &&
    (p.act === undefined || actDepth(p.act) > 0) && (p.classes === undefined || isStringList(p.classes));
  return ok ? (p as unknown as WardenClaims) : undefined;
}

/** Links in a well-formed `act` claim, or 0 when it is malformed or nested deeper than the chain limit allows. */
function actDepth(value: unknown, depth = 1): number {
  if (depth >= MAX_CHAIN_LINKS || value === null || typeof value !== 'object' || Array.isArray(value)) return 0;
  const a = value as Record<string, unknown>;
  if (typeof a.sub !== 'string' || a.sub.length === 0 || !isPrincipalKind(a.kind)) return 0;
  return a.act === undefined ? depth : actDepth(a.act, depth + 1);
}

/** The actors of an `act` claim, outermost (the caller) first. */
function actors(act: ActClaim | undefined): Actor[] {
  const out: Actor[] = [];
  for (let a = act; a !== undefined; a = a.act) out.push({ id: a.sub, kind: a.kind });
  return out;
}

/**
 * The `act` claim for a caller acting through `chain` (origin first; the origin itself goes into `sub`): the caller
 * outermost, then the earlier actors from the latest to the first.
 */
export function actClaimFor(caller: Actor, chain: readonly Actor[]): ActClaim {
  let act: ActClaim | undefined;
  for (const link of chain.slice(1)) act = { sub: link.id, kind: link.kind, ...(act ? { act } : {}) };
  return { sub: caller.id, kind: caller.kind, ...(act ? { act } : {}) };
}

/**
 * The caller and its delegation chain (origin first, the caller not included). Without `act` the token's subject
 * is the caller and the chain is empty.
 */
export function callerAndChain(claims: WardenClaims): { caller: Actor; chain: Actor[] } {
  const origin: Actor = { id: claims.sub, kind: claims.kind };
  if (claims.act === undefined) return { caller: origin, chain: [] };
  const [caller, ...earlier] = actors(claims.act);
  return { caller, chain: [origin, ...earlier.reverse()] };
}

/** The Subject a verified token stands for. */
export function subjectFromClaims(claims: WardenClaims): Subject {
  const { caller, chain } = callerAndChain(claims);
  return {
    id: caller.id,
    kind: caller.kind,
    groups: [...claims.groups],
    chain,
    tokenId: claims.jti,
    targets: [...claims.targets],
    expiresAt: claims.exp,
    ...(claims.classes === undefined ? {} : { classes: [...claims.classes] }),
  };
}
