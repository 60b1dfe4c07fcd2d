/**
 * `GET /api/whoami`: what the presented token says about its holder (name, kind, groups, delegation chain, expiry,
 * target patterns, statement classes), which Warden answered (version) and which targets the holder may reach: the
 * targets inside the token's patterns that some policy could let it use (or an approved access grant, or an allow
 * default). Any valid token may ask about itself; it never returns token text, backend addresses or credentials.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ADMIN_GROUP } from '../../identity/tokens.js';
import { mayAccess } from '../../policy/evaluate.js';
import { anyGlobMatch } from '../../policy/glob.js';
import type { Subject, Target } from '../../session/types.js';
import type { TargetRecord } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import { requireSubject } from '../auth.js';
import { authErrors } from '../schemas.js';

const strings = { type: 'array', items: { type: 'string' } } as const;

const whoamiShape = {
  type: 'object',
  required: ['user', 'kind', 'groups', 'chain', 'tokenId', 'expiresAt', 'targetPatterns', 'classes', 'admin', 'version', 'targets',
    'listeners'],
  properties: {
    user: { type: 'string' }, kind: { type: 'string' }, groups: strings,
    chain: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' } } } },
    tokenId: { type: 'string' }, expiresAt: { type: 'string', description: 'ISO-8601 time the token ends' },
    targetPatterns: { ...strings, description: 'target name patterns the token is limited to' },
    classes: { type: 'array', nullable: true, items: { type: 'string' }, description: 'statement classes; null: all' },
    admin: { type: 'boolean', description: 'whether the token may administer Warden' },
    version: { type: 'string', description: 'the version of the Warden that answered' },
    targets: {
      type: 'array',
      items: {
        type: 'object', required: ['name', 'type', 'via'],
        properties: { name: { type: 'string' }, type: { type: 'string' },
          via: { type: 'string', enum: ['policy', 'access grant', 'default allow'] } },
      },
    },
    listeners: {
      type: 'array', description: 'where callers connect, by protocol, and what to pin (e.g. the SSH host key)',
      items: {
        type: 'object', required: ['protocol', 'port'],
        properties: { protocol: { type: 'string' }, port: { type: 'integer' }, note: { type: 'string' } },
      },
    },
  },
} as const;

/** Why the subject may reach a target, or undefined when it may not. */
async function reach(deps: Pick<ControlDeps, 'policies' | 'defaultEffect' | 'approvals' | 'protocols'>, subject: Subject,
  record: TargetRecord): Promise<'policy' | 'access grant' | 'default allow' | undefined> {
  if (!anyGlobMatch(subject.targets, record.name)) return undefined;
  const protocol = deps.protocols.get(record.type);
  // A target of a protocol this Warden does not speak cannot be reached at all.
  if (protocol === undefined) return undefined;
  if (mayAccess(deps.policies.current(), subject, record, protocol)) return 'policy';
  if (await deps.approvals.hasAccess(subject, record.name)) return 'access grant';
  return deps.defaultEffect === 'allow' ? 'default allow' : undefined;
}

/** Registers `GET /whoami` (under the `/api` prefix); any valid token. */
export function whoamiRoutes(deps: Pick<ControlDeps, 'store' | 'policies' | 'defaultEffect' | 'approvals' | 'version' | 'protocols'
  | 'listeners'>): FastifyPluginAsync {
  return async (app) => {
    app.get('/whoami', {
      config: { auth: 'authenticated' },
      schema: {
        tags: ['tokens'], summary: 'Who the token belongs to, when it ends and which targets it may reach',
        response: { 200: whoamiShape, ...authErrors },
      },
    }, async (request) => {
      const subject = requireSubject(request);
      const targets: { name: string; type: string; via: string }[] = [];
      for (const record of await deps.store.targets.list()) {
        const via = await reach(deps, subject, record);
        if (via !== undefined) targets.push({ name: record.name, type: record.type, via });
      }
      return {
        user: subject.id, kind: subject.kind, groups: subject.groups, chain: subject.chain, tokenId: subject.tokenId,
        expiresAt: new Date(subject.expiresAt * 1000).toISOString(), targetPatterns: subject.targets,
        classes: subject.classes ?? null, admin: subject.groups.includes(ADMIN_GROUP) && subject.chain.length === 0,
        version: deps.version, targets, listeners: deps.listeners?.() ?? [],
      };
    });
  };
}
