/**
 * SSH caller credentials: `/api/ssh-keys` (register, list and remove public keys of users and service accounts),
 * `POST /api/ssh/certificates` (a short-lived OpenSSH user certificate for the caller's own token, like `tsh`) and
 * `GET /api/ssh/ca` (Warden's CA public key, for `TrustedUserCAKeys` or a `cert-authority` line).
 * Who may do what: administrators manage every key. Any other caller may manage its own user keys, but only with
 * an undelegated token for every target and class: a key login yields the user's full subject, so a narrowed or
 * delegated token must not mint itself one. Any valid token (delegated ones included) may get a certificate: the
 * certificate points back to that token and is never wider. Removing a key ends its live sessions (the kill switch).
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { parseDuration } from '../../identity/duration.js';
import type { SshKeyOwner } from '../../identity/ssh-keys.js';
import { ADMIN_GROUP } from '../../identity/tokens.js';
import type { Subject } from '../../session/types.js';
import type { SshKeyRecord } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import { requireSubject } from '../auth.js';
import { authErrors, errorSchema, idParams } from '../schemas.js';

const nullableText = { type: 'string', nullable: true } as const;
const ownerName = { type: 'string', minLength: 1, maxLength: 256 } as const;
const publicKeyText = { type: 'string', minLength: 1, maxLength: 16384, description: 'one line of a .pub file, e.g. ~/.ssh/id_ed25519.pub' } as const;

const sshKeyShape = {
  type: 'object',
  required: ['id', 'fingerprint', 'ownerKind', 'owner', 'algorithm', 'publicKey', 'createdAt', 'expiresAt'],
  properties: {
    id: { type: 'string' }, fingerprint: { type: 'string', description: 'SHA256:... as ssh-keygen -l prints it' },
    ownerKind: { type: 'string', enum: ['user', 'service'] }, owner: { type: 'string' }, name: nullableText,
    algorithm: { type: 'string' }, publicKey: { type: 'string' }, createdAt: { type: 'string' }, createdBy: nullableText,
    expiresAt: nullableText, lastUsedAt: nullableText,
  },
} as const;

/** Body of `POST /api/ssh-keys`. */
interface AddKeyBody {
  user?: string;
  serviceAccount?: string;
  publicKey: string;
  name?: string;
  ttl?: string;
}

/** Query of `GET /api/ssh-keys`. */
interface ListQuery {
  user?: string;
  serviceAccount?: string;
}

/** True for a caller that administers Warden (an undelegated token of the admin group), as auth.ts decides. */
function isAdmin(subject: Subject): boolean {
  return subject.groups.includes(ADMIN_GROUP) && subject.chain.length === 0;
}

/** The owner a request names (user or service account), defaulting to the caller as a user. */
function ownerOf(body: { user?: string; serviceAccount?: string }, caller: Subject): SshKeyOwner {
  if (body.user !== undefined && body.serviceAccount !== undefined) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'give at most one of "user" and "serviceAccount"');
  }
  if (body.serviceAccount !== undefined) return { kind: 'service', name: body.serviceAccount };
  return { kind: 'user', name: body.user ?? caller.id };
}

/** Refuses a non-administrator acting on anything but its own user keys, or with a narrowed token. */
function assertMayManage(caller: Subject, owner: SshKeyOwner): void {
  if (isAdmin(caller)) return;
  if (owner.kind !== 'user' || owner.name !== caller.id || caller.kind !== 'user') {
    throw new WardenError('WARDEN_ERR_FORBIDDEN', `only an administrator may manage SSH keys of ${owner.kind === 'user' ? 'user' : 'service account'} "${owner.name}"`);
  }
  if (caller.chain.length > 0 || caller.classes !== undefined || !caller.targets.includes('*')) {
    throw new WardenError('WARDEN_ERR_FORBIDDEN', 'a delegated or narrowed token cannot manage SSH keys (a key login is never narrowed)');
  }
}

/** Registers the SSH routes (under the `/api` prefix). */
export function sshRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['ssh'];

    app.post<{ Body: AddKeyBody }>('/ssh-keys', {
      config: { auth: 'authenticated' },
      schema: {
        tags, summary: 'Register an SSH public key to a user (default: yourself) or a service account',
        body: {
          type: 'object', additionalProperties: false, required: ['publicKey'],
          properties: {
            user: ownerName, serviceAccount: ownerName, publicKey: publicKeyText,
            name: { type: 'string', minLength: 1, maxLength: 128, description: 'a label, e.g. laptop (default: the key comment)' },
            ttl: { type: 'string', description: 'e.g. 90d; default: no expiry' },
          },
        },
        response: { 201: sshKeyShape, 404: errorSchema, 409: errorSchema, ...authErrors },
      },
    }, async (request, reply) => {
      const caller = requireSubject(request);
      const owner = ownerOf(request.body, caller);
      assertMayManage(caller, owner);
      const record = await deps.sshKeys.add({
        owner, publicKey: request.body.publicKey, name: request.body.name, by: caller.id,
        ttlSeconds: request.body.ttl === undefined ? undefined : parseDuration(request.body.ttl),
      });
      request.log.info({ sshKey: record.id, fingerprint: record.fingerprint, owner: record.owner, by: caller.id }, 'SSH key added');
      return reply.code(201).send(record);
    });

    app.get<{ Querystring: ListQuery }>('/ssh-keys', {
      config: { auth: 'authenticated' },
      schema: {
        tags, summary: 'List SSH keys (administrators: all or one owner\'s; others: their own)',
        querystring: { type: 'object', additionalProperties: false, properties: { user: ownerName, serviceAccount: ownerName } },
        response: { 200: { type: 'array', items: sshKeyShape }, ...authErrors },
      },
    }, async (request) => {
      const caller = requireSubject(request);
      const q = request.query;
      if (isAdmin(caller)) {
        return q.user === undefined && q.serviceAccount === undefined ? deps.store.sshKeys.list()
          : deps.store.sshKeys.list(ownerOf(q, caller));
      }
      const owner = ownerOf(q, caller);
      assertMayManage(caller, owner);
      return deps.store.sshKeys.list(owner);
    });

    app.delete<{ Params: { id: string } }>('/ssh-keys/:id', {
      config: { auth: 'authenticated' },
      schema: {
        tags, summary: 'Remove an SSH key and end the live sessions opened with it', params: idParams,
        response: {
          200: { ...sshKeyShape, properties: { ...sshKeyShape.properties, sessionsEnded: { type: 'array', items: { type: 'string' } } } },
          404: errorSchema, ...authErrors,
        },
      },
    }, async (request) => {
      const caller = requireSubject(request);
      const record: SshKeyRecord = await deps.sshKeys.get(request.params.id);
      assertMayManage(caller, { kind: record.ownerKind, name: record.owner });
      const { sessions } = await deps.killSwitch.removeSshKey(record.id, { by: caller.id });
      request.log.info({ sshKey: record.id, owner: record.owner, sessionsEnded: sessions.length, by: caller.id }, 'SSH key removed');
      return { ...record, sessionsEnded: sessions };
    });

    app.post<{ Body: { publicKey: string } }>('/ssh/certificates', {
      config: { auth: 'authenticated' },
      schema: {
        tags, summary: 'Sign an OpenSSH user certificate for your own token (valid until the token ends)',
        body: { type: 'object', additionalProperties: false, required: ['publicKey'], properties: { publicKey: publicKeyText } },
        response: {
          201: {
            type: 'object', required: ['certificate', 'keyId', 'serial', 'principals', 'validAfter', 'validBefore', 'fingerprint'],
            properties: {
              certificate: { type: 'string', description: 'write it to <key>-cert.pub, beside the private key' },
              keyId: { type: 'string' }, serial: { type: 'string' }, principals: { type: 'array', items: { type: 'string' } },
              validAfter: { type: 'string' }, validBefore: { type: 'string' }, fingerprint: { type: 'string' },
            },
          },
          ...authErrors,
        },
      },
    }, async (request, reply) => {
      const caller = requireSubject(request);
      const issued = await deps.sshCa.issue(caller, request.body.publicKey);
      request.log.info({ serial: issued.serial, tokenId: caller.tokenId, user: caller.id, fingerprint: issued.fingerprint,
        validBefore: issued.validBefore }, 'SSH certificate issued');
      return reply.code(201).send(issued);
    });

    app.get('/ssh/ca', {
      config: { auth: 'public' },
      schema: {
        tags, summary: 'Warden\'s SSH user CA public key (for TrustedUserCAKeys or a cert-authority line)',
        response: { 200: { type: 'object', required: ['publicKey', 'fingerprint'], properties: { publicKey: { type: 'string' }, fingerprint: { type: 'string' } } } },
      },
    }, async () => ({ publicKey: deps.sshCa.publicKeyLine, fingerprint: deps.sshCa.fingerprint }));
  };
}
