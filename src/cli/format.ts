/**
 * Human-readable output of the CLI: aligned tables, compact timestamps and the session timeline. Pure functions of
 * API responses to text. Everything shown passes through `clean`, because statement text and labels come from
 * callers and must never be able to drive the operator's terminal with escape sequences.
 */
import type { TargetView } from '../control/routes/targets.js';
import type { SessionEventRecord, SessionRecord, TokenRecord } from '../store/types.js';
import { isLongValue, type LongValue } from '../recording/values.js';
import { httpEventDetails } from './sessions-http.js';

/** Replaces control characters (ANSI escapes, carriage returns, ...) with visible `\xNN` escapes. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One line: whitespace runs (newlines included) become one space, then control characters are escaped. */
export function oneLine(text: string): string {
  return clean(text.replace(/\s+/g, ' ').trim());
}

/** `2024-05-01T12:34:56.789Z` -> `2024-05-01 12:34:56Z`; `-` for null. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Aligns rows under upper-case headers, two spaces apart; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map((c) => oneLine(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n') + '\n';
}

/** Pretty JSON with a trailing newline, for `--json`. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `k=v,k2=v2`, or `-` when there are none. */
export function labels(map: Record<string, string>): string {
  const entries = Object.entries(map);
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/** The targets table; `wide` adds the CA and the times. */
export function targetsTable(targets: TargetView[], wide = false): string {
  if (targets.length === 0) return 'no targets\n';
  return table(
    ['name', 'type', 'address', 'database', 'user', 'tls', 'password', ...(wide ? ['ca', 'created', 'updated'] : []), 'labels'],
    targets.map((t) => [t.name, t.type, address(t), t.database ?? '-', t.user ?? '-', t.tls ?? '-', secretsShown(t),
      ...(wide ? [t.type === 'postgres' ? (t.hasCa ? 'custom' : 'system') : '-', shortTime(t.createdAt), shortTime(t.updatedAt)] : []),
      labels(t.labels)]),
  );
}

/** Where a target is: `host:port`, a Kubernetes API server's URL, or an HTTP upstream's URL. */
function address(t: TargetView): string {
  return t.server ?? t.url ?? `${t.host ?? '-'}:${t.port ?? '-'}`;
}

/** The `password` column: whether a password (and, for ssh, a private key) is stored; never the secret itself. */
function secretsShown(t: TargetView): string {
  if (t.type === 'kubernetes') return t.hasToken ? 'token' : t.hasClientKey ? 'client cert' : 'no';
  if (t.type === 'http') return t.auth === 'none' ? (t.hasClientKey ? 'client cert' : 'none') : `${t.auth}${t.hasSecret ? '' : ' (no secret)'}`;
  const stored = [...(t.hasPassword ? ['yes'] : []), ...(t.hasPrivateKey ? ['key'] : [])];
  return t.hasPrivateKey && t.hasPassword ? 'yes+key' : stored[0] ?? 'no';
}

/** One target, one field per line. */
export function targetDetails(t: TargetView): string {
  const set = (stored: boolean | undefined) => (stored ? 'set (encrypted)' : 'none');
  const own: [string, string][] = t.type === 'postgres'
    ? [['database', t.database ?? '-'], ['user', t.user ?? '-'], ['tls', t.tls ?? '-'],
      ['password', set(t.hasPassword)], ['ca', t.hasCa ? 'custom' : 'system']]
    : t.type === 'kubernetes'
      ? [['ca', t.hasCa ? 'custom' : 'system'], ['tls name', t.tlsServerName ?? '-'], ['token', set(t.hasToken)],
        ['client', t.hasClientCert ? `certificate, key ${set(t.hasClientKey)}` : 'none'],
        ['identity', t.impersonate ? 'impersonates the caller' : 'the target\'s credential']]
      : t.type === 'http'
        ? [['auth', t.auth ?? 'none'], ['secret', set(t.hasSecret)], ['ca', t.hasCa ? 'custom' : 'system'],
          ['host', t.hostHeader ?? '-'], ['headers', Object.keys(t.headers ?? {}).join(', ') || '-'],
          ['client', t.hasClientCert ? `certificate, key ${set(t.hasClientKey)}` : 'none']]
        : [['user', t.user ?? '-'], ['password', set(t.hasPassword)], ['key', set(t.hasPrivateKey)],
        ['host key', t.hostKeyFingerprint ?? 'not pinned yet (the first key seen is recorded)']];
  const rows: [string, string][] = [
    ['name', t.name], ['type', t.type], ['address', address(t)], ...own, ['labels', labels(t.labels)],
    ['created', shortTime(t.createdAt)], ['updated', shortTime(t.updatedAt)],
  ];
  return rows.map(([k, v]) => `${k.padEnd(9)} ${oneLine(v)}`).join('\n') + '\n';
}

/** active, expired or revoked, at `now`. */
export function tokenStatus(t: TokenRecord, now = Date.now()): string {
  if (t.revokedAt) return 'revoked';
  return Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
}

/** The tokens table (records only: the token text is never stored, so never shown); `wide` adds issue, chain, classes. */
export function tokensTable(tokens: TokenRecord[], now = Date.now(), wide = false): string {
  if (tokens.length === 0) return 'no tokens\n';
  return table(
    ['id', 'subject', 'kind', 'groups', 'targets', ...(wide ? ['issued', 'parent', 'chain', 'classes'] : []), 'expires', 'status'],
    tokens.map((t) => [t.id, t.subject, t.subjectKind, t.groups.join(',') || '-', t.targets.join(',') || '-',
      ...(wide ? [shortTime(t.issuedAt), t.parentId ?? '-', t.chain?.map((a) => a.id).join(' -> ') || '-',
        t.classes?.join(',') ?? 'all'] : []),
      shortTime(t.expiresAt), tokenStatus(t, now)]),
  );
}

/** The sessions table; `wide` adds the protocol, the subject's kind and groups, and the delegation chain. */
export function sessionsTable(sessions: SessionRecord[], wide = false): string {
  if (sessions.length === 0) return 'no sessions\n';
  return table(
    ['id', 'subject', ...(wide ? ['kind', 'groups', 'chain', 'protocol'] : []), 'target', 'database', 'client', 'started',
      'ended', 'end reason'],
    sessions.map((s) => [s.id, s.subject,
      ...(wide ? [s.subjectKind, s.groups?.join(',') || '-', s.chain?.map((a) => a.id).join(' -> ') || '-', s.protocol] : []),
      s.target, s.database, s.clientAddress, shortTime(s.startedAt), s.endedAt ? shortTime(s.endedAt) : 'active',
      s.endReason ?? '-']),
  );
}

/** `+1.234s` from the session start. */
export function offset(startIso: string, atIso: string): string {
  const ms = Math.max(0, Date.parse(atIso) - Date.parse(startIso));
  return `+${(ms / 1000).toFixed(3)}s`;
}

/** A bound parameter as shown: quoted text, NULL for null, a long one as its quoted prefix, length and hash. */
function param(p: unknown): string {
  if (p === null) return 'NULL';
  if (isLongValue(p)) return longValue(p);
  return `'${String(p).replace(/'/g, "''")}'`;
}

/** A value recorded as a prefix: `'prefix'...(N bytes, sha256 abc...)`. */
function longValue(v: LongValue): string {
  return `'${v.prefix.replace(/'/g, "''")}'...(${v.bytes} bytes, sha256 ${v.sha256})`;
}

/**
 * The decision behind a statement, naming its rule: `allowed by policy/rule`, `allowed by the default`,
 * `approved in apr_... (rule policy/rule)`; `decision unknown` when the recording holds none.
 */
export function decisionText(d: unknown): string {
  if (d === null || typeof d !== 'object') return 'decision unknown';
  const { effect, rule, approval } = d as { effect?: unknown; rule?: unknown; approval?: unknown };
  const by = typeof rule === 'string' && rule !== '' ? rule : 'the default';
  if (effect === 'allow') return `allowed by ${by}`;
  if (effect === 'deny') return `denied by ${by}`;
  if (effect === 'require_approval') return `approved${typeof approval === 'string' ? ` in ${approval}` : ''} (rule ${by})`;
  return `${String(effect)} by ${by}`;
}

/** The details of a `statement` event: text, params, decision, duration, rows, tag, error. */
function statementDetails(d: Record<string, unknown>): string[] {
  const parts = [typeof d.text === 'string' ? d.text : isLongValue(d.text) ? longValue(d.text) : ''];
  if (Array.isArray(d.params) && d.params.length > 0) parts.push(`params=[${d.params.map(param).join(', ')}]`);
  if (typeof d.durationMs === 'number') parts.push(`${d.durationMs.toFixed(d.durationMs < 10 ? 2 : 0)}ms`);
  if (typeof d.rows === 'number') parts.push(`rows=${d.rows}`);
  if (typeof d.tag === 'string') parts.push(`tag="${d.tag}"`);
  const err = d.error as { code?: unknown; message?: unknown } | undefined;
  if (err && typeof err === 'object') parts.push(`error=${String(err.code ?? '')}: ${String(err.message ?? '')}`);
  if (d.skipped === true) parts.push('skipped');
  parts.push(`[${decisionText(d.decision)}]`);
  return parts;
}

/** Any other event: its data as `key=value` pairs. */
function genericDetails(d: Record<string, unknown>): string[] {
  return Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
}

/** The details of a `statement.denied` event: text, the rule that refused it and its message. */
function deniedDetails(d: Record<string, unknown>): string[] {
  const parts = [typeof d.text === 'string' ? d.text : ''];
  if (Array.isArray(d.params) && d.params.length > 0) parts.push(`params=[${d.params.map(param).join(', ')}]`);
  parts.push(`[${decisionText({ effect: 'deny', rule: d.rule })}]`);
  if (typeof d.message === 'string') parts.push(`message="${d.message}"`);
  return parts;
}

/** One timeline line: offset, event type, details. */
export function eventLine(start: string, e: SessionEventRecord): string {
  const details = e.type === 'statement' ? statementDetails(e.data)
    : e.type === 'statement.denied' ? deniedDetails(e.data) : httpEventDetails(e.type, e.data) ?? genericDetails(e.data);
  return `${offset(start, e.at).padStart(10)}  ${oneLine(e.type).padEnd(14)} ${oneLine(details.join('  '))}`.trimEnd();
}

/** The readable timeline of `warden sessions show`: a header, then one line per event in order. */
export function sessionTimeline(session: SessionRecord, events: SessionEventRecord[]): string {
  const chain = session.chain?.length ? ` on behalf of ${session.chain.map((a) => a.id).join(' -> ')}` : '';
  const header = [
    `session   ${session.id}`,
    ...(session.chain?.length ? [`chain     ${[...session.chain.map((a) => `${a.id} (${a.kind})`), session.subject].join(' -> ')}`] : []),
    `subject   ${session.subject} (${session.subjectKind}${session.groups?.length ? `; groups ${session.groups.join(',')}` : ''})${chain}`,
    `target    ${session.target} (database ${session.database}, ${session.protocol})`,
    `client    ${session.clientAddress}`,
    `started   ${shortTime(session.startedAt)}`,
    `ended     ${session.endedAt ? `${shortTime(session.endedAt)} (${session.endReason ?? 'no reason'})` : 'still active'}`,
  ].map(oneLine);
  const lines = events.map((e) => eventLine(session.startedAt, e));
  return [...header, '', ...(lines.length ? lines : ['(no events recorded)'])].join('\n') + '\n';
}
