/**
 * The Policy resource: its zod schema (what an operator may write, strict: unknown fields are errors) and its
 * normalised form (what evaluate() reads: defaults filled in, the approval timeout in seconds). Cross-field rules
 * (effect versus approvers, message and timeout; unique rule names; regexes that compile) live here too, so every
 * entry point (YAML files, the control API) rejects the same documents with the same messages.
 * Pure: no I/O, no clock. Parsing text into documents is load.ts's job.
 */
import { z } from 'zod';
import { parseDuration } from '../identity/duration.js';
import { selectorError } from '../masking/json-selectors.js';
import type { ProtocolRegistry } from '../session/protocol-registry.js';
import type { Effect } from './types.js';

/** Detectors a mask item may name; the masking module implements each one. */
export const MASK_DETECTORS = [
  'card', 'email', 'phone', 'iban', 'ssn', 'ipv4', 'ipv6', 'jwt', 'private_key', 'aws_access_key', 'github_token',
  'slack_token', 'generic_api_key',
] as const;

/** How a masked value is rewritten. */
export const MASK_STRATEGIES = ['redact', 'partial', 'hash', 'null'] as const;

/** Rule effects as written in a policy. */
export const EFFECTS = ['allow', 'deny', 'require_approval'] as const satisfies readonly Effect[];

/** Default approval wait when a require_approval rule names no timeout. */
export const DEFAULT_APPROVAL_TIMEOUT = '5m';
/** Longest approval wait a rule may ask for (24h): a statement must not hold a session open for days. */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 86_400;

const RULE_NAME = /^[a-z0-9][a-z0-9._-]*$/i;
const POLICY_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

const text = z.string().min(1);
// Non-empty lists everywhere: an empty list would silently make a rule match nothing (or, read loosely, everything).
const globs = z.array(text).min(1);

const subjectsSchema = z
  .strictObject({
    users: globs.optional(),
    groups: globs.optional(),
    services: globs.optional(),
    agents: globs.optional(),
    chain: z
      .strictObject({ actors: globs.optional(), longerThan: z.number().int().min(0).optional() })
      .refine((c) => c.actors !== undefined || c.longerThan !== undefined, 'needs actors or longerThan')
      .optional(),
  })
  .refine((s) => Object.keys(s).length > 0, 'needs users, groups, services, agents or chain');

/**
 * Which commands a rule applies to: `classes` (any registered protocol's) and the match keys of the registered
 * protocols (sql: tables, schemas, functions, unbounded; ssh: programs, paths). The keys of one rule must all belong
 * to one protocol: a rule mixing `tables` and `programs` could never mean what its author thought.
 */
export interface StatementMatch {
  classes?: string[];
  [key: string]: unknown;
}

function matchSchemaFor(registry: ProtocolRegistry): z.ZodType<StatementMatch> {
  const keys: Record<string, z.ZodType> = {};
  for (const definition of registry.list()) {
    for (const [key, schema] of Object.entries(definition.matchKeys)) keys[key] ??= schema.optional();
  }
  const classes = registry.classes();
  return z
    .strictObject({ classes: z.array(z.enum(classes as [string, ...string[]])).min(1).optional(), ...keys })
    .superRefine((match, ctx) => {
      if (registry.protocolsFor(match).length > 0) return;
      const owners = Object.keys(match).filter((key) => key !== 'classes')
        .map((key) => `${key} (${registry.list().filter((d) => Object.hasOwn(d.matchKeys, key)).map((d) => d.name).join(', ')})`);
      ctx.addIssue({ code: 'custom', message: `mixes match keys of different protocols: ${owners.join(', ')}; ` +
        'write one rule per protocol' });
    }) as unknown as z.ZodType<StatementMatch>;
}

const approversSchema = z.strictObject({
  groups: z.array(text).optional(),
  users: z.array(text).optional(),
  count: z.number().int().min(1).max(10).optional(),
});

const maskItemSchema = z
  .strictObject({
    columns: globs.optional(),
    types: globs.optional(),
    /**
     * JSON field selectors (HTTP response and request bodies): `$.customers[*].email`, `**.ssn`; the value at each
     * selected field is masked whole (or scanned, with detectors or patterns). Syntax in src/masking/json-selectors.ts.
     */
    fields: globs.optional(),
    detectors: z.array(z.enum(MASK_DETECTORS)).min(1).optional(),
    patterns: z.array(text).min(1).optional(),
    strategy: z.enum(MASK_STRATEGIES),
  })
  .superRefine((item, ctx) => {
    if (!item.columns && !item.types && !item.fields && !item.detectors && !item.patterns) {
      ctx.addIssue({ code: 'custom', message: 'needs columns, types, fields, detectors or patterns' });
    }
    item.patterns?.forEach((pattern, i) => {
      try {
        new RegExp(pattern);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        ctx.addIssue({ code: 'custom', path: ['patterns', i], message: `not a valid regular expression (${why})` });
      }
    });
    item.fields?.forEach((field, i) => {
      const why = selectorError(field);
      if (why !== null) ctx.addIssue({ code: 'custom', path: ['fields', i], message: `not a valid field selector: ${why}` });
    });
  });

/** Longest idle timeout a rule may set (7 days); longer is not a timeout anyone means. */
export const MAX_IDLE_TIMEOUT_SECONDS = 7 * 86_400;

const sessionSettingsSchema = z
  .strictObject({ idleTimeout: z.string().optional() })
  .refine((s) => s.idleTimeout !== undefined, 'needs idleTimeout');

/** The fields of one rule, with `match` validated by `matchSchema` (the registered protocols' keys). */
function ruleObject(matchSchema: z.ZodType<StatementMatch>) {
  return z.strictObject({
    name: z.string().regex(RULE_NAME, 'must start with a letter or digit and hold only letters, digits, . _ -'),
    description: z.string().optional(),
    targets: globs.optional(),
    targetLabels: z.record(text, text).optional(),
    subjects: subjectsSchema.optional(),
    match: matchSchema.optional(),
    effect: z.enum(EFFECTS).optional(),
    message: text.optional(),
    approvers: approversSchema.optional(),
    timeout: z.string().optional(),
    mask: z.array(maskItemSchema).min(1).optional(),
    /**
     * Sessions end when the token they were opened with expires (a notice goes to the caller a minute before).
     * `true` on an allow rule lets the sessions of the subjects and targets it applies to run on past that.
     */
    sessionOutlivesToken: z.boolean().optional(),
    /**
     * Settings of the sessions this rule applies to (its subjects and targets; its `match` only picks the protocol),
     * whatever its effect. `idleTimeout`: a session with no traffic for this long is ended; the smallest of every rule
     * that applies wins, and Warden's own flag (e.g. `--ssh-idle-timeout`) stays an upper bound.
     */
    session: sessionSettingsSchema.optional(),
  });
}

/** One rule as written. */
export type PolicyRuleDocument = z.infer<ReturnType<typeof ruleObject>>;

/** A Policy document exactly as written. */
export interface PolicyDocument {
  kind: 'Policy';
  name: string;
  description?: string;
  rules: PolicyRuleDocument[];
}

function policySchemaWith(matchSchema: z.ZodType<StatementMatch>): z.ZodType<PolicyDocument> {
  const ruleSchema = ruleObject(matchSchema).superRefine((rule, ctx) => checkRule(rule, ctx));
  return z
    .strictObject({
      kind: z.literal('Policy'),
      name: z.string().regex(POLICY_NAME, 'must be 1-63 letters, digits, . _ - starting with a letter or digit'),
      description: z.string().optional(),
      rules: z.array(ruleSchema),
    })
    .superRefine((policy, ctx) => {
      const seen = new Map<string, number>();
      policy.rules.forEach((rule, i) => {
        const first = seen.get(rule.name);
        if (first === undefined) {
          seen.set(rule.name, i);
          return;
        }
        const message = `duplicate rule name "${rule.name}" (also rules[${first}])`;
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message });
      });
    });
}

const schemas = new WeakMap<ProtocolRegistry, z.ZodType<PolicyDocument>>();

/**
 * The schema of one Policy document as written (YAML or JSON) for the protocols of `registry`: their classes and
 * match keys; parse results are PolicyDocument. Built once per registry.
 */
export function policySchemaFor(registry: ProtocolRegistry): z.ZodType<PolicyDocument> {
  let schema = schemas.get(registry);
  if (!schema) schemas.set(registry, (schema = policySchemaWith(matchSchemaFor(registry))));
  return schema;
}

/** Who a rule applies to; absent on a rule means everyone. */
export type SubjectSelector = z.infer<typeof subjectsSchema>;
/** One masking instruction (applied by the masking module, only validated here). */
export type MaskItem = z.infer<typeof maskItemSchema>;

/** Normalised approvers of a require_approval rule. */
export interface Approvers {
  groups: string[];
  users: string[];
  count: number;
}

/** A rule with its defaults filled in. */
export interface PolicyRule extends Omit<PolicyRuleDocument, 'targets' | 'approvers' | 'timeout'> {
  targets: string[];
  /** Set exactly when effect is require_approval. */
  approvers?: Approvers;
  /** The timeout as written (or the default), for display; set exactly when effect is require_approval. */
  timeout?: string;
  /** The timeout in seconds; set exactly when effect is require_approval. */
  timeoutSeconds?: number;
}

/** A validated, normalised policy: what evaluate() consumes. */
export interface Policy extends Omit<PolicyDocument, 'rules'> {
  rules: PolicyRule[];
}

type Ctx = z.RefinementCtx;

/** Cross-field checks of one rule; paths are relative to the rule. */
function checkRule(rule: PolicyRuleDocument, ctx: Ctx): void {
  const fail = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (rule.effect === undefined && rule.mask === undefined && rule.session === undefined) {
    ctx.addIssue({ code: 'custom', message: 'needs an effect, a mask or session settings' });
  }
  if (rule.session?.idleTimeout !== undefined) {
    const seconds = timeoutSeconds(rule.session.idleTimeout);
    const shown = rule.session.idleTimeout.slice(0, 40);
    const path = ['session', 'idleTimeout'];
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', path, message: `invalid duration "${shown}": use a positive amount like 90s, 15m or 1h` });
    } else if (seconds > MAX_IDLE_TIMEOUT_SECONDS) ctx.addIssue({ code: 'custom', path, message: `"${shown}" is longer than the maximum of 7d` });
  }
  if (rule.message !== undefined && rule.effect !== 'deny') fail('message', 'allowed only when effect is deny');
  if (rule.sessionOutlivesToken !== undefined && rule.effect !== 'allow') {
    fail('sessionOutlivesToken', 'allowed only when effect is allow');
  }
  if (rule.effect !== 'require_approval') {
    if (rule.approvers !== undefined) fail('approvers', 'allowed only when effect is require_approval');
    if (rule.timeout !== undefined) fail('timeout', 'allowed only when effect is require_approval');
    return;
  }
  checkApprovers(rule.approvers, ctx);
  if (rule.timeout !== undefined) {
    const seconds = timeoutSeconds(rule.timeout);
    const shown = rule.timeout.slice(0, 40);
    if (seconds === undefined) {
      fail('timeout', `invalid duration "${shown}": use a positive amount like 90s, 15m or 1h`);
    } else if (seconds > MAX_APPROVAL_TIMEOUT_SECONDS) fail('timeout', `"${shown}" is longer than the maximum of 24h`);
  }
}

function checkApprovers(approvers: PolicyRuleDocument['approvers'], ctx: Ctx): void {
  const path = ['approvers'];
  if (approvers === undefined) {
    ctx.addIssue({ code: 'custom', path, message: 'required when effect is require_approval' });
    return;
  }
  const groups = approvers.groups ?? [];
  const users = approvers.users ?? [];
  const count = approvers.count ?? 1;
  if (groups.length === 0 && users.length === 0) {
    ctx.addIssue({ code: 'custom', path, message: 'needs at least one group or user' });
  } else if (groups.length === 0 && !users.some((u) => /[*?]/.test(u)) && count > new Set(users).size) {
    // Only named users can approve, and fewer of them than the count: the rule could never be satisfied.
    const message = `${count} approvals needed but only ${new Set(users).size} user(s) listed`;
    ctx.addIssue({ code: 'custom', path: [...path, 'count'], message });
  }
}

function timeoutSeconds(value: string): number | undefined {
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

/** Fills in defaults of a validated document: targets ["*"], approvers.count 1, timeout "5m" and its seconds. */
export function normalizePolicy(doc: PolicyDocument): Policy {
  const rules = doc.rules.map((rule): PolicyRule => {
    const { targets, approvers, timeout, ...rest } = rule;
    const out: PolicyRule = { ...rest, targets: targets ?? ['*'] };
    if (rule.effect === 'require_approval') {
      out.approvers = { groups: approvers?.groups ?? [], users: approvers?.users ?? [], count: approvers?.count ?? 1 };
      out.timeout = timeout ?? DEFAULT_APPROVAL_TIMEOUT;
      out.timeoutSeconds = parseDuration(out.timeout);
    }
    return out;
  });
  return { ...doc, rules };
}

/** The document form of a normalised policy (drops computed fields), e.g. to store or show it; re-parses equal. */
export function policyToDocument(policy: Policy): PolicyDocument {
  return { ...policy, rules: policy.rules.map(({ timeoutSeconds: _seconds, ...rule }) => rule) };
}
