/**
 * Every principal Warden knows of, wherever it is known from: a user row (a sign-in or a disable), a service
 * account, a token issued to it (or naming it in a delegation chain) or a recorded session. `GET /api/principals`
 * lists them for `warden users list`, and `assertKnownUser` lets `users/:name/disable` refuse a typo instead of
 * silently disabling a name nobody has. Read-only; it never shows token text.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import type { Store } from '../../store/types.js';
import { didYouMean } from '../../suggest.js';
import type { ControlDeps } from '../app.js';
import { authErrors } from '../schemas.js';

/** How many recent sessions the listing looks at for principals with no other trace. */
const RECENT_SESSIONS = 1000;

/** One principal and where Warden knows it from. */
export interface KnownPrincipal {
  name: string;
  /** user, service or agent (several when the name was seen as more than one). */
  kinds: string[];
  /** user row, service account, tokens, sessions. */
  sources: string[];
  groups: string[];
  activeTokens: number;
  sessions: number;
  lastSeenAt: string | null;
  disabledAt: string | null;
}

/** Collects every principal of the store (users, service accounts, token subjects and chains, recent sessions). */
export async function knownPrincipals(store: Store, now = Date.now()): Promise<KnownPrincipal[]> {
  const byName = new Map<string, KnownPrincipal & { kindSet: Set<string>; sourceSet: Set<string> }>();
  const entry = (name: string) => {
    let p = byName.get(name);
    if (p === undefined) {
      p = { name, kinds: [], sources: [], groups: [], activeTokens: 0, sessions: 0, lastSeenAt: null, disabledAt: null,
        kindSet: new Set(), sourceSet: new Set() };
      byName.set(name, p);
    }
    return p;
  };
  const seen = (p: KnownPrincipal, at: string | null) => {
    if (at !== null && (p.lastSeenAt === null || at > p.lastSeenAt)) p.lastSeenAt = at;
  };
  for (const u of await store.users.list()) {
    const p = entry(u.name);
    p.kindSet.add('user'); p.sourceSet.add('user'); p.groups = u.groups; p.disabledAt = u.disabledAt; seen(p, u.lastLoginAt);
  }
  for (const a of await store.serviceAccounts.list()) {
    const p = entry(a.name);
    p.kindSet.add(a.kind); p.sourceSet.add('service account'); p.groups = a.groups; p.disabledAt ??= a.disabledAt;
  }
  for (const t of await store.tokens.list()) {
    const p = entry(t.subject);
    p.kindSet.add(t.subjectKind); p.sourceSet.add('tokens'); seen(p, t.issuedAt);
    if (p.groups.length === 0) p.groups = t.groups;
    if (t.revokedAt === null && Date.parse(t.expiresAt) > now) p.activeTokens++;
    for (const actor of t.chain ?? []) {
      const a = entry(actor.id);
      a.kindSet.add(actor.kind); a.sourceSet.add('tokens');
    }
  }
  for (const s of await store.sessions.list({ limit: RECENT_SESSIONS })) {
    const p = entry(s.subject);
    p.kindSet.add(s.subjectKind); p.sourceSet.add('sessions'); p.sessions++; seen(p, s.startedAt);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)).map(({ kindSet, sourceSet, ...p }) =>
    ({ ...p, kinds: [...kindSet].sort(), sources: [...sourceSet] }));
}

/**
 * Throws WARDEN_ERR_NOT_FOUND unless `name` is a user Warden has seen (a user row, a token or a session), naming
 * the closest known names, so a typo is refused; `force` lets an administrator disable a name before first use.
 */
export async function assertKnownUser(store: Store, name: string): Promise<void> {
  if (await store.users.get(name) !== undefined) return;
  if ((await store.tokens.activeFor(name)).length > 0) return;
  if ((await store.sessions.list({ subject: name, limit: 1 })).length > 0) return;
  const known = (await knownPrincipals(store)).filter((p) => p.kinds.includes('user')).map((p) => p.name);
  throw new WardenError('WARDEN_ERR_NOT_FOUND', `no user "${name}" is known to Warden (no sign-in, token or session)`
    + `${didYouMean(name, known)}; to disable the name before its first use, pass force (CLI: --force)`);
}

const principalShape = {
  type: 'object',
  required: ['name', 'kinds', 'sources', 'groups', 'activeTokens', 'sessions', 'lastSeenAt', 'disabledAt'],
  properties: {
    name: { type: 'string' }, kinds: { type: 'array', items: { type: 'string' } },
    sources: { type: 'array', items: { type: 'string' } }, groups: { type: 'array', items: { type: 'string' } },
    activeTokens: { type: 'integer' }, sessions: { type: 'integer', description: `among the ${RECENT_SESSIONS} latest sessions` },
    lastSeenAt: { type: 'string', nullable: true }, disabledAt: { type: 'string', nullable: true },
  },
} as const;

/** Registers `GET /principals` (under the `/api` prefix); admin-only. */
export function knownPrincipalRoutes(deps: Pick<ControlDeps, 'store'>): FastifyPluginAsync {
  return async (app) => {
    app.get('/principals', {
      schema: {
        tags: ['users'], summary: 'Every principal Warden knows: users, service accounts, token holders, session subjects',
        response: { 200: { type: 'array', items: principalShape }, ...authErrors },
      },
    }, async () => knownPrincipals(deps.store));
  };
}
