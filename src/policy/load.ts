/**
 * Turns policy text (YAML, possibly several `---` documents, or JSON) and already-decoded values (control API bodies)
 * into validated, normalised Policy objects, and zod's issues into one readable message an operator can act on:
 * `policy "prod-guardrails": rules[1].approvers: required when effect is require_approval`.
 * Pure: it never reads files or the environment; callers hand it text. Every failure is WARDEN_ERR_BAD_REQUEST.
 */
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { WardenError } from '../errors.js';
import { normalizePolicy, policySchemaFor, type Policy } from './schema.js';
import { policyProtocols } from './vocabulary.js';

/** Issues shown per document; the rest are counted, so a badly broken file does not produce a wall of text. */
const MAX_ISSUES = 5;

/**
 * Parses every Policy in `text`. YAML (the default; JSON is valid YAML too) may hold several documents separated by
 * `---`, each a policy or a list of policies; JSON holds one policy object or an array of them. Empty documents are
 * skipped. Throws WARDEN_ERR_BAD_REQUEST naming the document, the path and the problem.
 */
export function parsePolicyDocuments(text: string, format: 'yaml' | 'json' = 'yaml'): Policy[] {
  const docs = decodeDocuments(text, format);
  const policies = docs.map((doc, i) => validatePolicy(doc, docs.length > 1 ? i + 1 : undefined));
  const seen = new Set<string>();
  for (const policy of policies) {
    // Two documents with one name would silently replace each other when applied.
    if (seen.has(policy.name)) throw badRequest(`policy "${policy.name}": defined more than once`);
    seen.add(policy.name);
  }
  return policies;
}

/**
 * Decodes resource text into one value per document: YAML documents separated by `---` (each may also be a list of
 * documents), or one JSON value (an object or an array of them). Empty documents are skipped; no document at all is
 * WARDEN_ERR_BAD_REQUEST. Shared by every resource kind `warden apply` accepts.
 */
export function decodeDocuments(text: string, format: 'yaml' | 'json' = 'yaml'): unknown[] {
  const values = format === 'json' ? [parseJson(text)] : parseYaml(text);
  return values.flatMap((value) => (Array.isArray(value) ? value : [value]));
}

/**
 * Validates one decoded policy document and normalises it. `position` (1-based) names the document in errors
 * when its own name is unusable.
 */
export function validatePolicy(value: unknown, position?: number): Policy {
  // reportInput lets the messages tell a missing field ("required") from a wrong one.
  const result = policySchemaFor(policyProtocols()).safeParse(value, { reportInput: true });
  if (result.success) return normalizePolicy(result.data);
  throw badRequest(`${documentLabel(value, position)}: ${formatIssues(result.error.issues)}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`policy JSON does not parse: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseYaml(text: string): unknown[] {
  const out: unknown[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const error = doc.errors[0];
    if (error !== undefined) throw badRequest(`policy YAML document ${i + 1} does not parse: ${error.message}`);
    // An empty document (a trailing `---`, a file of comments) holds nothing to apply.
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value !== null && value !== undefined) out.push(value);
  });
  if (out.length === 0) throw badRequest('no policy documents found');
  return out;
}

function documentLabel(value: unknown, position: number | undefined): string {
  const name = typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined;
  if (typeof name === 'string' && name.length > 0 && name.length <= 63) return `policy "${name}"`;
  return position === undefined ? 'policy' : `policy document ${position}`;
}

/** `rules[1].approvers` from ['rules', 1, 'approvers']; the empty path is the document itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** zod issues as one line an operator can act on (at most five shown). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown field`);
    }
    const path = formatPath(issue.path);
    return [`${path === '' ? '' : `${path}: `}${describeIssue(issue)}`];
  });
  const shown = lines.slice(0, MAX_ISSUES).join('; ');
  return lines.length > MAX_ISSUES ? `${shown}; and ${lines.length - MAX_ISSUES} more problem(s)` : shown;
}

/** Operator wording for zod's issue codes; zod's own messages speak of "input" and "options". */
function describeIssue(issue: z.core.$ZodIssue): string {
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) return 'required';
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}, got ${issue.message.replace(/^.*received /, '')}`;
    case 'invalid_value':
      if (issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])}`;
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'string') return 'must not be empty';
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

function badRequest(message: string): WardenError {
  return new WardenError('WARDEN_ERR_BAD_REQUEST', message);
}
