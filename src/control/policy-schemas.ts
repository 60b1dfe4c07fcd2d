/**
 * JSON Schemas of the policy routes' requests and responses, with the TypeScript types of the bodies. Kept apart
 * from schemas.ts so the policy feature adds no shared component: these are inlined in the OpenAPI document.
 * The policy document itself is described loosely here (its exact grammar is the zod schema in src/policy/schema.ts,
 * which the server applies to every document); the response serializer passes its fields through unchanged.
 * This module holds data only: no behaviour.
 */
import type { PrincipalKind } from '../session/types.js';
import { TARGET_NAME_PATTERN } from './schemas.js';

const PRINCIPAL_KINDS = ['user', 'service', 'agent'] as const;
const EFFECTS = ['allow', 'deny', 'require_approval'] as const;
const timestamp = { type: 'string', description: 'ISO-8601 timestamp in UTC' } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;

/** Body of `POST /api/policies/apply`. */
export interface ApplyPoliciesBody {
  text: string;
  format?: 'yaml' | 'json';
}

/** Schema of ApplyPoliciesBody: the file as written, parsed by the server so every client gets the same checks. */
export const applyPoliciesBody = {
  type: 'object',
  additionalProperties: false,
  required: ['text'],
  properties: {
    text: { type: 'string', description: 'one or more Policy documents (YAML, `---`-separated, or JSON)' },
    format: { type: 'string', enum: ['yaml', 'json'], default: 'yaml' },
  },
} as const;

/** One applied document: its name and what applying it did. */
export const appliedDocument = {
  type: 'object',
  required: ['name', 'status'],
  properties: { name: { type: 'string' }, status: { type: 'string', enum: ['created', 'updated', 'unchanged'] } },
} as const;

/** Response of `POST /api/policies/apply`. */
export const applyPoliciesResponse = {
  type: 'object',
  required: ['applied'],
  properties: {
    applied: { type: 'array', items: appliedDocument },
    warnings: { type: 'array', items: { type: 'string' }, description: 'rules that can never apply to the targets they name' },
  },
} as const;

/** A Policy document as stored and shown: re-applying it gives the same policy. */
export const policyDocument = {
  type: 'object',
  required: ['kind', 'name', 'rules'],
  additionalProperties: true,
  description: 'a Policy document; its grammar is documented with `warden apply` and checked on every apply',
  properties: {
    kind: { type: 'string', enum: ['Policy'] },
    name: { type: 'string' },
    description: { type: 'string' },
    rules: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;

/** One entry of `GET /api/policies`: the document and when it was first and last applied. */
export const policyEntry = {
  type: 'object',
  required: ['name', 'createdAt', 'updatedAt', 'policy'],
  properties: { name: { type: 'string' }, createdAt: timestamp, updatedAt: timestamp, policy: policyDocument },
} as const;

/** Body of `POST /api/policy/test`. */
export interface PolicyTestBody {
  user: string;
  kind?: PrincipalKind;
  groups?: string[];
  target: string;
  /** The command to judge, in the target's protocol (a query string, a shell command). */
  command?: string;
  /** The former name of `command` (SQL), still accepted. */
  sql?: string;
  /** A request body sent with the command (http, kubernetes: the JSON the request would carry). */
  body?: string;
}

/** Schema of PolicyTestBody. */
export const policyTestBody = {
  type: 'object',
  additionalProperties: false,
  required: ['user', 'target'],
  oneOf: [{ required: ['command'] }, { required: ['sql'] }],
  properties: {
    user: { type: 'string', minLength: 1, maxLength: 255 },
    kind: { type: 'string', enum: PRINCIPAL_KINDS, default: 'user' },
    groups: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 255 }, maxItems: 256 },
    target: { type: 'string', pattern: TARGET_NAME_PATTERN },
    command: { type: 'string', minLength: 1, description: 'the command to judge in the target\'s protocol; it is never run' },
    sql: { type: 'string', minLength: 1, description: 'former name of `command`' },
    body: { type: 'string', maxLength: 1_048_576, description: 'the request body sent with the command (http, kubernetes)' },
  },
} as const;

/** Response of `POST /api/policy/test`: the Decision, plus what the analyser saw in each statement. */
export const policyTestResponse = {
  type: 'object',
  required: ['effect', 'classes', 'statements'],
  properties: {
    effect: { type: 'string', enum: EFFECTS },
    rule: { type: 'string', description: '`policy/rule` that decided; absent when the default applied' },
    message: { type: 'string', description: 'what the caller would be told on deny' },
    approval: {
      type: 'object',
      required: ['groups', 'users', 'count', 'timeoutSeconds'],
      properties: { groups: strings, users: strings, count: { type: 'integer' }, timeoutSeconds: { type: 'integer' } },
    },
    classes: strings,
    protocol: { type: 'string', description: 'the target\'s protocol' },
    warnings: { ...strings, description: 'rules naming this target whose match keys are another protocol\'s' },
    statements: {
      type: 'array',
      items: {
        type: 'object',
        required: ['text', 'kind', 'classes', 'tables', 'schemas', 'functions', 'unboundedWrite'],
        properties: {
          text: { type: 'string' },
          kind: { type: 'string', description: 'SQL: the parser node type, e.g. InsertStmt; else the command kind' },
          classes: strings,
          tables: strings,
          schemas: strings,
          functions: strings,
          unboundedWrite: { type: 'boolean' },
          attributes: { type: 'object', additionalProperties: strings, description: 'match attributes (programs, paths, ...)' },
        },
      },
    },
    parseError: { type: 'string' },
  },
} as const;
