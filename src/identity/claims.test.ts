/**
 * Token claims (claims.ts): the RFC 8693 `act` claim built for a delegation chain and read back into the caller and
 * its chain (origin in `sub`, the caller outermost in `act`, the chain origin first), for every chain length Warden
 * allows, and the shape check that keeps a malformed `act` or `classes` from ever becoming a Subject.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Actor, PrincipalKind } from '../session/types.js';
import {
  MAX_CHAIN_LINKS, actClaimFor, asWardenClaims, callerAndChain, subjectFromClaims, type ActClaim, type WardenClaims,
} from './claims.js';

const KINDS: PrincipalKind[] = ['user', 'service', 'agent'];

/** A chain of `n` links, origin first, with distinct names and mixed kinds. */
function chainOf(n: number): Actor[] {
  return Array.from({ length: n }, (_, i) => ({ id: `link-${i}`, kind: i === 0 ? 'user' : KINDS[i % 3] }));
}

/** Well-formed claims for a caller acting through `chain` (no `act` for an empty chain), as the issuer builds them. */
function claimsFor(caller: Actor, chain: Actor[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const origin = chain[0];
  return {
    iss: 'warden', aud: 'warden', jti: 'tok_x', iat: 1000, nbf: 1000, exp: 2000, groups: ['dev'], targets: ['pg-*'],
    ...(origin === undefined
      ? { sub: caller.id, kind: caller.kind }
      : { sub: origin.id, kind: origin.kind, act: actClaimFor(caller, chain) }),
    ...extra,
  };
}

/** Depth of an act claim. */
function depth(act: ActClaim | undefined): number {
  let n = 0;
  for (let a = act; a !== undefined; a = a.act) n++;
  return n;
}

/** An `act` nested `n` deep, each link well-formed. */
function nestedAct(n: number): ActClaim {
  let act: ActClaim | undefined;
  for (let i = n; i >= 1; i--) act = { sub: `a${i}`, kind: 'agent', ...(act ? { act } : {}) };
  return act!;
}

describe('actClaimFor and callerAndChain', () => {
  for (let n = 0; n <= MAX_CHAIN_LINKS - 1; n++) {
    it(`round trips a chain of ${n} link${n === 1 ? '' : 's'} through the claims`, () => {
      const chain = chainOf(n);
      const caller: Actor = { id: 'the-caller', kind: 'agent' };
      const raw = claimsFor(caller, chain);
      const claims = asWardenClaims(raw);
      assert.ok(claims, 'well-formed claims are accepted');
      // RFC 8693: sub is the origin, the outermost act the caller, and the nesting one level per earlier actor.
      if (n === 0) {
        assert.equal(claims.sub, 'the-caller');
        assert.equal(claims.act, undefined);
      } else {
        assert.equal(claims.sub, 'link-0');
        assert.equal(claims.kind, 'user');
        assert.deepEqual({ sub: claims.act!.sub, kind: claims.act!.kind }, { sub: 'the-caller', kind: 'agent' });
        assert.equal(depth(claims.act), n);
        // The second-outermost act is the link that delegated to the caller (the last of the chain).
        if (n >= 2) assert.equal(claims.act!.act!.sub, chain[n - 1].id);
      }
      const out = callerAndChain(claims);
      assert.deepEqual(out.caller, caller);
      assert.deepEqual(out.chain, chain);
      assert.equal(out.chain.length + 1, n + 1);
    });
  }

  it('builds the nesting explicitly for three links', () => {
    const act = actClaimFor({ id: 'c', kind: 'agent' }, [
      { id: 'alice', kind: 'user' }, { id: 'planner', kind: 'service' }, { id: 'worker', kind: 'agent' },
    ]);
    assert.deepEqual(act, { sub: 'c', kind: 'agent', act: { sub: 'worker', kind: 'agent', act: { sub: 'planner', kind: 'service' } } });
  });

  it('has no nested act when the caller was delegated to directly by the origin', () => {
    assert.deepEqual(actClaimFor({ id: 'bot', kind: 'agent' }, [{ id: 'alice', kind: 'user' }]), { sub: 'bot', kind: 'agent' });
  });

  it('does not mutate the claims when read twice', () => {
    const chain = chainOf(4);
    const claims = asWardenClaims(claimsFor({ id: 'c', kind: 'agent' }, chain))!;
    const before = JSON.stringify(claims);
    assert.deepEqual(callerAndChain(claims).chain, chain);
    assert.deepEqual(callerAndChain(claims).chain, chain);
    assert.equal(JSON.stringify(claims), before);
  });

  it('gives the Subject the caller as id, the chain origin first, and copies of the lists', () => {
    const chain = chainOf(3);
    const raw = claimsFor({ id: 'c', kind: 'service' }, chain, { classes: ['read'] });
    const claims = asWardenClaims(raw)!;
    const subject = subjectFromClaims(claims);
    assert.deepEqual(subject, {
      id: 'c', kind: 'service', groups: ['dev'], chain, tokenId: 'tok_x', targets: ['pg-*'], expiresAt: 2000, classes: ['read'],
    });
    subject.groups.push('x');
    subject.targets.push('y');
    subject.classes!.push('write');
    assert.deepEqual(claims.groups, ['dev']);
    assert.deepEqual(claims.targets, ['pg-*']);
    assert.deepEqual(claims.classes, ['read']);
    assert.equal('classes' in subjectFromClaims(asWardenClaims(claimsFor({ id: 'c', kind: 'user' }, []))!), false);
  });
});

describe('asWardenClaims', () => {
  const good = () => claimsFor({ id: 'bot', kind: 'agent' }, [{ id: 'alice', kind: 'user' }]);

  it('accepts the control case, with and without classes, with an audience list', () => {
    assert.ok(asWardenClaims(good()));
    assert.ok(asWardenClaims({ ...good(), classes: ['read', 'write'] }));
    assert.ok(asWardenClaims({ ...good(), aud: ['warden', 'other'] }));
  });

  it(`accepts an act nested ${MAX_CHAIN_LINKS - 1} deep (${MAX_CHAIN_LINKS} links with sub) and refuses one deeper`, () => {
    assert.ok(asWardenClaims({ ...good(), act: nestedAct(MAX_CHAIN_LINKS - 1) }));
    assert.equal(asWardenClaims({ ...good(), act: nestedAct(MAX_CHAIN_LINKS) }), undefined);
    assert.equal(asWardenClaims({ ...good(), act: nestedAct(MAX_CHAIN_LINKS + 5) }), undefined);
  });

  const badActs: Array<[string, unknown]> = [
    ['act without sub', { kind: 'agent' }],
    ['act with an empty sub', { sub: '', kind: 'agent' }],
    ['act with a numeric sub', { sub: 7, kind: 'agent' }],
    ['act with an unknown kind', { sub: 'bot', kind: 'root' }],
    ['act without kind', { sub: 'bot' }],
    ['act as a string', 'bot'],
    ['act as null', null],
    ['act as an array', [{ sub: 'bot', kind: 'agent' }]],
    ['act as a number', 1],
    ['a nested act without sub', { sub: 'bot', kind: 'agent', act: { kind: 'user' } }],
    ['a nested act with a bad kind', { sub: 'bot', kind: 'agent', act: { sub: 'x', kind: 'admin' } }],
    ['a nested act that is not an object', { sub: 'bot', kind: 'agent', act: 'alice' }],
    ['a nested act that is null', { sub: 'bot', kind: 'agent', act: null }],
    ['a bad link deep in the chain', { ...nestedAct(3), act: { sub: 'a2', kind: 'agent', act: { sub: 'a3', kind: 'nobody' } } }],
  ];
  for (const [label, act] of badActs) {
    it(`refuses ${label}`, () => {
      assert.ok(asWardenClaims(good()), 'control');
      assert.equal(asWardenClaims({ ...good(), act }), undefined);
    });
  }

  const badClasses: Array<[string, unknown]> = [
    ['classes as a string', 'read'],
    ['classes with an empty string', ['read', '']],
    ['classes with a number', [1]],
    ['classes as null', null],
    ['classes as an object', { read: true }],
  ];
  for (const [label, classes] of badClasses) {
    it(`refuses ${label}`, () => assert.equal(asWardenClaims({ ...good(), classes }), undefined));
  }

  it('refuses missing or ill-typed registered and Warden claims', () => {
    const cases: Array<Record<string, unknown>> = [
      { sub: '' }, { sub: undefined }, { jti: '' }, { iss: 1 }, { aud: [''] }, { aud: 5 }, { iat: '1' }, { nbf: undefined },
      { exp: null }, { kind: 'root' }, { groups: 'dev' }, { targets: undefined }, { targets: [''] },
    ];
    for (const c of cases) assert.equal(asWardenClaims({ ...good(), ...c }), undefined, JSON.stringify(c));
  });
});
