/**
 * `/api/policies` and `/api/policy/test`: apply, list, show and remove policy resources, and dry-run the policy
 * decision for one statement. The server parses policy text itself (clients send files as written), so every
 * client gets the same validation and error messages. It must never run a statement: the test route only analyses
 * and evaluates. Writes go through the PolicyCatalog so what is stored and what is enforced never differ.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { evaluate } from '../../policy/evaluate.js';
import { misfitRules } from '../../policy/fit.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { Decision } from '../../policy/types.js';
import type { Analysis } from '../../session/protocol.js';
import type { Subject } from '../../session/types.js';
import type { ControlDeps } from '../app.js';
import {
  applyPoliciesBody, applyPoliciesResponse, policyDocument, policyEntry, policyTestBody, policyTestResponse,
  type ApplyPoliciesBody, type PolicyTestBody,
} from '../policy-schemas.js';
import { authErrors, errorSchema, nameParams } from '../schemas.js';

/** Token id of the made-up subject of a policy test; no real token has it. */
export const POLICY_TEST_TOKEN_ID = 'policy-test';

/** The answer of `POST /api/policy/test`. */
export interface PolicyTestResult extends Decision {
  /** The target's protocol. */
  protocol?: string;
  /** Rules naming this target that can never apply to it (their match keys are another protocol's). */
  warnings?: string[];
  /** One entry per analysed unit (an SQL statement, a simple shell command). */
  statements: Array<{
    text: string;
    kind: string;
    classes: string[];
    tables: string[];
    schemas: string[];
    functions: string[];
    unboundedWrite: boolean;
    /** Every match attribute of the unit (SQL's tables, schemas, functions too; ssh's programs and paths). */
    attributes?: Record<string, string[]>;
  }>;
  parseError?: string;
}

function policyNotFound(name: string): WardenError {
  return new WardenError('WARDEN_ERR_NOT_FOUND', `policy ${name} not found`);
}

/** The subject a test request describes: acting for itself, allowed every target (the token scope is not tested). */
function testSubject(body: PolicyTestBody): Subject {
  return {
    id: body.user, kind: body.kind ?? 'user', groups: body.groups ?? [], chain: [], tokenId: POLICY_TEST_TOKEN_ID,
    targets: ['*'], expiresAt: Math.floor(Date.now() / 1000) + 3600,
  };
}

/** The Decision and the per-unit analysis, field by field so the response shape never depends on internals. */
export function toTestResult(decision: Decision, analysis: Analysis, protocol: string, kind: string): PolicyTestResult {
  return {
    ...decision,
    protocol,
    statements: analysis.units.map((u) => {
      const sql = sqlDetail(u.detail);
      return {
        text: u.text, kind: sql?.kind ?? kind, classes: u.classes, tables: u.attributes.tables ?? [],
        schemas: u.attributes.schemas ?? [], functions: u.attributes.functions ?? [],
        unboundedWrite: u.flags?.unbounded === true,
        // SQL's attributes are the fields above; other protocols' (programs, paths) are listed as they are.
        ...(sql === undefined ? { attributes: u.attributes } : {}),
      };
    }),
    ...(analysis.parseError === undefined ? {} : { parseError: analysis.parseError }),
  };
}

/** The parser's node type when the unit's detail carries one (SQL). */
function sqlDetail(detail: unknown): { kind: string } | undefined {
  if (typeof detail !== 'object' || detail === null || !('kind' in detail)) return undefined;
  return typeof detail.kind === 'string' ? { kind: detail.kind } : undefined;
}

/** Registers the policy routes (under the `/api` prefix); admin-only like every route without an `auth` config. */
export function policyRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    // Analysers load their parsers (WebAssembly) once; awaiting it here means no request ever waits for them.
    await deps.protocols.init();
    const tags = ['policies'];

    app.post<{ Body: ApplyPoliciesBody }>(
      '/policies/apply',
      {
        schema: {
          tags, summary: 'Apply policy documents (all or nothing)', body: applyPoliciesBody,
          response: { 200: applyPoliciesResponse, ...authErrors },
        },
      },
      async (request) => {
        // Parsing every document before the first write is what makes a bad file apply nothing.
        const policies = parsePolicyDocuments(request.body.text, request.body.format ?? 'yaml');
        const applied = await deps.policies.apply(policies);
        request.log.info({ policies: applied }, 'policies applied');
        const warnings = misfitRules(policies, await deps.store.targets.list(), deps.protocols);
        return { applied, ...(warnings.length > 0 ? { warnings } : {}) };
      },
    );

    app.get(
      '/policies',
      { schema: { tags, summary: 'List policies', response: { 200: { type: 'array', items: policyEntry }, ...authErrors } } },
      async () =>
        (await deps.store.policies.list()).map((r) => ({
          name: r.name, createdAt: r.createdAt, updatedAt: r.updatedAt, policy: r.document,
        })),
    );

    app.get<{ Params: { name: string } }>(
      '/policies/:name',
      { schema: { tags, summary: 'Show a policy document', params: nameParams, response: { 200: policyDocument, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const record = await deps.store.policies.get(request.params.name);
        if (!record) throw policyNotFound(request.params.name);
        return record.document;
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/policies/:name',
      { schema: { tags, summary: 'Remove a policy', params: nameParams, response: { 204: { type: 'null' }, 404: errorSchema, ...authErrors } } },
      async (request, reply) => {
        if (!(await deps.policies.remove(request.params.name))) throw policyNotFound(request.params.name);
        request.log.info({ policy: request.params.name }, 'policy removed');
        return reply.code(204).send();
      },
    );

    app.post<{ Body: PolicyTestBody }>(
      '/policy/test',
      {
        schema: {
          tags, summary: 'Show what the policies in force decide for a statement (nothing is run)', body: policyTestBody,
          response: { 200: policyTestResponse, 404: errorSchema, ...authErrors },
        },
      },
      async (request) => {
        const record = await deps.store.targets.get(request.body.target);
        if (!record) throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target ${request.body.target} not found`);
        const target = deps.protocols.target(record);
        const protocol = deps.protocols.require(target.type);
        const text = request.body.command ?? request.body.sql ?? '';
        // Judged as a fresh session would judge it: no prepared statements, no earlier state.
        const attributes = request.body.body === undefined ? {} : { attributes: { body: request.body.body } };
        const command = { protocol: protocol.name, kind: protocol.commandKind, text, ...attributes };
        const analysis = protocol.analyse(command, protocol.newState?.());
        const input = { subject: testSubject(request.body), target, analysis, protocol };
        const decision = evaluate(deps.policies.current(), input, { defaultEffect: deps.defaultEffect });
        const warnings = misfitRules(deps.policies.current(), [target], deps.protocols);
        return { ...toTestResult(decision, analysis, protocol.name, command.kind), ...(warnings.length > 0 ? { warnings } : {}) };
      },
    );
  };
}
