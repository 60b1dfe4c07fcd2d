/**
 * Redaction of what callers send, before it is recorded: the literals in a statement's text and its bound
 * parameters. The statement sent upstream is never changed; only the recorded copy is.
 *
 * What is redacted (documented in the README, "Recordings"):
 * - for everyone: every literal or parameter in which a detector of sensitive values finds a match (card numbers
 *   with a valid Luhn sum, e-mail addresses, IBANs, US SSNs and every credential detector). A card number in an
 *   INSERT is sensitive whoever sends it.
 * - for a subject with masking rules, also: whatever those rules' detectors and patterns match; every value written
 *   to or compared with a masked column (matched by column name whatever the table, so a name that is masked
 *   anywhere is redacted everywhere); and, when a rule masks by type (Warden cannot tell a literal's column type),
 *   or when the text cannot be parsed, every literal and parameter.
 * Comments are caller text too: one in which a detector or pattern finds something is replaced whole.
 * Literals are found with the parser's own lexer and tree (analysis/sql/literals.ts), never with patterns over the
 * text. Owns the decision and the rewriting. Pure and synchronous; never throws (a failure records a placeholder).
 * Long values are cut here, after redaction (recording/values.ts): a text is redacted whole and only then summarised
 * as a prefix, so no literal of a long statement reaches the recorded prefix unredacted (its length and SHA-256 are
 * those of the redacted text: a hash of the original would let anyone holding the rest of it test guesses of a
 * redacted value). A value that arrives already
 * summarised (a long bound parameter, decoded only as far as its prefix) has its prefix judged and cut back to before
 * any token the cut may have split.
 */
import { valueMap, type ValueSite } from '../analysis/sql/literals.js';
import { scanDetector, type DetectorName } from '../masking/detectors.js';
import { compileRules, type MaskRules } from '../masking/rules.js';
import { globMatch } from '../policy/glob.js';
import { isLongValue, recordedText, type LongValue } from './values.js';

/** Rewrites one recorded event's data; returns the same object when nothing needed redaction. */
export type Redactor = (data: Record<string, unknown>) => Record<string, unknown>;

/** What stands in for a redacted literal or parameter in a recording. */
export const REDACTED = '[redacted]';

const UNREADABLE = '[not recorded: the text could not be read and may hold sensitive values]';

/** Detectors applied to every caller's literals and parameters (not phone or IP addresses: common, not secret). */
export const ALWAYS_REDACTED: readonly DetectorName[] = Object.freeze([
  'card', 'email', 'iban', 'ssn', 'jwt', 'private_key', 'aws_access_key', 'github_token', 'slack_token',
  'generic_api_key',
] satisfies DetectorName[]);

interface Plan {
  detectors: DetectorName[];
  patterns: RegExp[];
  /** Bare-name globs of masked columns. */
  columns: string[];
  /** Redact every literal and parameter. */
  everything: boolean;
}

/** The redactor for a subject with these mask rules (an empty list: the detectors everyone gets). */
export function recordingRedactor(rules: MaskRules): Redactor {
  const plan = planFor(rules);
  return (data) => {
    try {
      return redactData(data, plan);
    } catch {
      const { text: _text, params: _params, ...rest } = data;
      return { ...rest, text: '[not recorded: redaction failed]' };
    }
  };
}

function planFor(rules: MaskRules): Plan {
  const detectors = new Set<DetectorName>(ALWAYS_REDACTED);
  const patterns: RegExp[] = [];
  const columns: string[] = [];
  let everything = false;
  for (const item of compileRules(rules).items) {
    for (const d of item.detectors) detectors.add(d);
    patterns.push(...item.patterns);
    if (item.types !== undefined) everything = true;
    // `*.email` and `email` give `email`; `public.customers.card_number` gives `card_number`, matched anywhere.
    for (const glob of item.columns ?? []) columns.push(glob.glob.slice(glob.glob.lastIndexOf('.') + 1));
  }
  return { detectors: [...detectors], patterns, columns, everything };
}

function redactData(data: Record<string, unknown>, plan: Plan): Record<string, unknown> {
  const text = typeof data.text === 'string' ? data.text : undefined;
  const params = Array.isArray(data.params) ? (data.params as unknown[]) : undefined;
  const messages = redactMessages(data, plan);
  const summarised = isLongValue(data.text) ? { text: redactLong(data.text, plan) } : undefined;
  if (text === undefined && params === undefined) {
    return messages || summarised ? { ...data, ...messages, ...summarised } : data;
  }
  const map = text === undefined || nothingToFind(text, plan) ? undefined : valueMap(text);
  const out: Record<string, unknown> = { ...data, ...messages, ...summarised };
  let changed = messages !== undefined || summarised !== undefined;
  if (text !== undefined) {
    let kept = text;
    // Text the lexer cannot read has no known literals: record it only when nothing sensitive could be in it.
    if (map && !map.lexed) kept = sensitive(text, undefined, plan, true) ? UNREADABLE : text;
    else if (map) kept = redactText(text, map.sites, plan, !map.parsed);
    // Cut only now, after redaction: the recorded prefix is a prefix of the redacted text.
    const recorded = recordedText(kept);
    out.text = recorded;
    changed ||= recorded !== text;
  }
  if (params !== undefined) {
    const boundTo = new Map<number, ValueSite>();
    for (const s of map?.sites ?? []) if (s.param !== undefined) boundTo.set(s.param, s);
    const unsure = map === undefined || !map.parsed;
    out.params = params.map((p, i) => {
      if (isLongValue(p)) return redactLong(p, plan, boundTo.get(i + 1), unsure);
      return typeof p === 'string' && sensitive(p, boundTo.get(i + 1), plan, unsure) ? REDACTED : p;
    });
    changed ||= (out.params as unknown[]).some((p, i) => p !== params[i]);
  }
  return changed ? out : data;
}

/** Characters that can continue a token a detector looks for (card digits, e-mail, keys): the cut may split one. */
const TOKEN_TAIL = /[\p{L}\p{N}._%+\-@/=:]+$/u;

/**
 * A value summarised before it reached the redactor (only its prefix was ever decoded): REDACTED when the prefix is
 * sensitive, else the same summary with the prefix cut back before a token the cut may have split (a card number's
 * first digits are not a match, yet are part of the secret). Length and hash are kept for auditors.
 */
function redactLong(value: LongValue, plan: Plan, site?: ValueSite, unsure = true): LongValue | string {
  if (sensitive(value.prefix, site, plan, unsure)) return REDACTED;
  const prefix = value.prefix.replace(TOKEN_TAIL, '');
  return prefix === value.prefix ? value : { ...value, prefix };
}

/** Something that could be a string literal, a comment, or a number long enough for a detector. */
const MAY_HOLD_VALUES = /['$]|--|\/\*|\d{9}/;

/**
 * Whether the text can be left as it is without lexing it (the hot path for most statements): only for a plan that
 * goes by detectors alone, and a text with no string literal, no comment and no number a detector could match.
 */
function nothingToFind(text: string, plan: Plan): boolean {
  return !plan.everything && plan.columns.length === 0 && plan.patterns.length === 0 && !MAY_HOLD_VALUES.test(text);
}

/**
 * Server and Warden messages echo values (`invalid input syntax for type integer: "alice@example.com"`): the
 * detector and pattern matches in `message` and `error.message` are replaced. Undefined when nothing changed.
 */
function redactMessages(data: Record<string, unknown>, plan: Plan): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  if (typeof data.message === 'string') {
    const message = redactFreeText(data.message, plan);
    if (message !== data.message) out = { message };
  }
  const error = data.error as { message?: unknown } | undefined;
  if (error !== null && typeof error === 'object' && typeof error.message === 'string') {
    const message = redactFreeText(error.message, plan);
    if (message !== error.message) out = { ...out, error: { ...error, message } };
  }
  return out;
}

/** Free text: every detector or pattern match becomes REDACTED (there are no tokens to go by). */
function redactFreeText(text: string, plan: Plan): string {
  const ranges: [number, number][] = [];
  for (const d of plan.detectors) ranges.push(...scanDetector(d, text));
  for (const re of plan.patterns) {
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) if (m[0].length > 0) ranges.push([m.index, m.index + m[0].length]);
  }
  if (ranges.length === 0) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [start, end] of ranges) {
    if (end <= at) continue;
    out += text.slice(at, Math.max(at, start)) + REDACTED;
    at = end;
  }
  return out + text.slice(at);
}

/** The text with each sensitive literal token replaced; `unsure` when values or columns are unknown. */
function redactText(text: string, sites: readonly ValueSite[], plan: Plan, unsure: boolean): string {
  let out = '';
  let at = 0;
  for (const site of sites) {
    if (site.kind === 'param') continue;
    const raw = text.slice(site.start, site.end);
    if (site.kind === 'comment') {
      // A comment goes to no column: only what a detector or pattern finds in it is sensitive.
      if (!contentHit(raw, plan)) continue;
      out += text.slice(at, site.start) + (raw.startsWith('--') ? `-- ${REDACTED}` : `/* ${REDACTED} */`);
      at = site.end;
      continue;
    }
    const hit = sensitive(raw, site, plan, unsure) || (site.value !== undefined && sensitive(site.value, site, plan, unsure));
    if (!hit) continue;
    out += text.slice(at, site.start) + (site.kind === 'string' ? `'${REDACTED}'` : REDACTED);
    at = site.end;
  }
  return at === 0 ? text : out + text.slice(at);
}

/** Whether a value (a literal's text or value, or a parameter) must not be recorded in clear. */
function sensitive(value: string, site: ValueSite | undefined, plan: Plan, unsure: boolean): boolean {
  if (plan.everything) return true;
  if (plan.columns.length > 0) {
    if (unsure) return true; // the masked column it goes to cannot be ruled out
    if (site?.columns.some((c) => c === '*' || plan.columns.some((g) => globMatch(g, c)))) return true;
  }
  return contentHit(value, plan);
}

/** Whether a detector or pattern of the plan matches somewhere in `value`. */
function contentHit(value: string, plan: Plan): boolean {
  for (const d of plan.detectors) if (scanDetector(d, value).length > 0) return true;
  for (const re of plan.patterns) {
    re.lastIndex = 0;
    if (re.test(value)) return true;
  }
  return false;
}
