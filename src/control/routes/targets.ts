/**
 * `/api/targets`: add, list, show, update, test and remove backends. Owns turning a request into a TargetRecord (the
 * password goes through the vault, bound to the target's name) and a record into its public view. It must never
 * return, log or store in clear a target's password, nor return its ciphertext; an update that would send the stored
 * password somewhere else (another host, port, user or CA, or weaker TLS) needs the password given again.
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { diagnoseTarget } from '../../protocols/postgres/diagnose.js';
import type { Target } from '../../session/types.js';
import type { TargetRecord } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import {
  authErrors,
  createTargetBody,
  errorSchema,
  nameParams,
  targetView,
  type CreateTargetBody,
} from '../schemas.js';
import { diagnosisSchema, updateTargetBody, type UpdateTargetBody } from './targets-schemas.js';

/** A target as the API returns it. */
export interface TargetView {
  name: string;
  type: string;
  host: string;
  port: number;
  database: string;
  user: string;
  tls: TargetRecord['tls'];
  hasPassword: boolean;
  hasCa: boolean;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** The vault context a target's password is encrypted under; binds the ciphertext to that one target. */
export function targetSecretContext(name: string): string {
  return `target:${name}`;
}

/** The public view of a stored target: built field by field so a new secret column can never slip through. */
export function toTargetView(t: TargetRecord): TargetView {
  return {
    name: t.name,
    type: t.type,
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user,
    tls: t.tls,
    hasPassword: t.passwordEnc !== null,
    hasCa: t.ca !== null,
    labels: t.labels,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** Checks that a CA bundle holds at least one parseable PEM certificate, so a bad file fails now, not at connect. */
function checkCa(ca: string): void {
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca must be a PEM certificate bundle (-----BEGIN CERTIFICATE-----)');
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca holds no valid PEM certificate');
  }
}

function targetNotFound(name: string): WardenError {
  return new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target ${name} not found`);
}

/** Builds the record to store from a validated request body. */
export function toTargetRecord(body: CreateTargetBody, deps: Pick<ControlDeps, 'vault'>, now: string): TargetRecord {
  if (body.ca !== undefined) checkCa(body.ca);
  const password = body.password ?? null;
  return {
    name: body.name,
    type: body.type,
    host: body.host,
    port: body.port,
    database: body.database,
    user: body.user,
    passwordEnc: password === null ? null : deps.vault.encrypt(password, targetSecretContext(body.name)),
    tls: body.tls,
    ca: body.ca ?? null,
    labels: body.labels ?? {},
    createdAt: now,
    updatedAt: now,
  };
}

/** TLS modes from weakest to strongest; lowering one could expose the stored password to a man in the middle. */
const TLS_STRENGTH: Record<TargetRecord['tls'], number> = { disable: 0, prefer: 1, require: 2, 'verify-full': 3 };

/** Which changes would send the stored password to a server it was not given for. */
function redirects(current: TargetRecord, body: UpdateTargetBody): string[] {
  const changed: string[] = [];
  if (body.host !== undefined && body.host !== current.host) changed.push('host');
  if (body.port !== undefined && body.port !== current.port) changed.push('port');
  if (body.user !== undefined && body.user !== current.user) changed.push('user');
  if (body.ca !== undefined && body.ca !== current.ca) changed.push('ca');
  if (body.tls !== undefined && TLS_STRENGTH[body.tls] < TLS_STRENGTH[current.tls]) changed.push('tls (weaker)');
  return changed;
}

/** The stored record with `body` applied; a kept password stays the same ciphertext (never decrypted here). */
export function updatedTargetRecord(current: TargetRecord, body: UpdateTargetBody, deps: Pick<ControlDeps, 'vault'>,
  now: string): TargetRecord {
  if (typeof body.ca === 'string') checkCa(body.ca);
  const moved = redirects(current, body);
  if (current.passwordEnc !== null && body.password === undefined && moved.length > 0) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `changing ${moved.join(', ')} of target ${current.name} would send its ` +
      'stored password to another server: give the password again (--password-stdin) or remove it (--no-password)');
  }
  let passwordEnc = current.passwordEnc;
  if (body.password !== undefined) {
    passwordEnc = body.password === null ? null : deps.vault.encrypt(body.password, targetSecretContext(current.name));
  }
  return {
    ...current,
    host: body.host ?? current.host,
    port: body.port ?? current.port,
    database: body.database ?? current.database,
    user: body.user ?? current.user,
    tls: body.tls ?? current.tls,
    ca: body.ca === undefined ? current.ca : body.ca,
    labels: body.labels ?? current.labels,
    passwordEnc,
    updatedAt: now,
  };
}

/** The protocol-neutral target of a stored record (what the engines connect to). */
function toTarget(t: TargetRecord): Target {
  return { name: t.name, type: t.type, host: t.host, port: t.port, database: t.database, user: t.user, tls: t.tls,
    ca: t.ca, labels: t.labels };
}

/** Registers the target routes (under the `/api` prefix). */
export function targetRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['targets'];

    app.post<{ Body: CreateTargetBody }>(
      '/targets',
      { schema: { tags, summary: 'Add a target', body: createTargetBody, response: { 201: targetView, 409: errorSchema, ...authErrors } } },
      async (request, reply) => {
        const record = toTargetRecord(request.body, deps, new Date().toISOString());
        await deps.store.targets.insert(record).catch((err: unknown) => {
          if (!(err instanceof WardenError) || err.code !== 'WARDEN_ERR_CONFLICT') throw err;
          throw new WardenError('WARDEN_ERR_CONFLICT', `target ${record.name} already exists: change it with ` +
            `\`warden targets update ${record.name} ...\` (PATCH /api/targets/${record.name})`);
        });
        request.log.info({ target: record.name }, 'target added');
        return reply.code(201).send(toTargetView(record));
      },
    );

    app.get(
      '/targets',
      { schema: { tags, summary: 'List targets', response: { 200: { type: 'array', items: targetView }, ...authErrors } } },
      async () => (await deps.store.targets.list()).map(toTargetView),
    );

    app.get<{ Params: { name: string } }>(
      '/targets/:name',
      { schema: { tags, summary: 'Show a target', params: nameParams, response: { 200: targetView, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const target = await deps.store.targets.get(request.params.name);
        if (!target) throw targetNotFound(request.params.name);
        return toTargetView(target);
      },
    );

    app.patch<{ Params: { name: string }; Body: UpdateTargetBody }>(
      '/targets/:name',
      { schema: { tags, summary: 'Change a target (absent fields stay; the password is replaced, never shown)', params: nameParams,
        body: updateTargetBody, response: { 200: targetView, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const current = await deps.store.targets.get(request.params.name);
        if (!current) throw targetNotFound(request.params.name);
        const record = updatedTargetRecord(current, request.body, deps, new Date().toISOString());
        if (!(await deps.store.targets.update(record))) throw targetNotFound(request.params.name);
        request.log.info({ target: record.name, fields: Object.keys(request.body) }, 'target updated');
        return toTargetView(record);
      },
    );

    app.post<{ Params: { name: string } }>(
      '/targets/:name/test',
      { schema: { tags, summary: 'Test a target step by step: DNS, TCP, TLS, login', params: nameParams,
        response: { 200: diagnosisSchema, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const record = await deps.store.targets.get(request.params.name);
        if (!record) throw targetNotFound(request.params.name);
        const credentials = async () => ({ user: record.user,
          password: record.passwordEnc === null ? null : deps.vault.decrypt(record.passwordEnc, targetSecretContext(record.name)) });
        const diagnosis = await diagnoseTarget(toTarget(record), credentials);
        request.log.info({ target: record.name, ok: diagnosis.ok }, 'target tested');
        return diagnosis;
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/targets/:name',
      { schema: { tags, summary: 'Remove a target', params: nameParams, response: { 204: { type: 'null' }, 404: errorSchema, ...authErrors } } },
      async (request, reply) => {
        if (!(await deps.store.targets.remove(request.params.name))) throw targetNotFound(request.params.name);
        request.log.info({ target: request.params.name }, 'target removed');
        return reply.code(204).send();
      },
    );
  };
}
