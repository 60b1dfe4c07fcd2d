/**
 * `warden apply -f FILE`, `warden policies list|show|rm` and `warden policy test`: manage policy resources and
 * dry-run decisions through the control API. Files are sent as written: the server parses and validates them, so
 * the CLI and every other client get the same checks and messages. Statement text shown here comes from callers
 * and passes through `oneLine` so it can never drive the terminal.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { PolicyTestResult } from '../control/routes/policies.js';
import type { WhoamiView } from './status.js';
import { clientFor, seg } from './client.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, CliError, UsageError, dispatch, expectPositionals, guard, parseCommand,
  processIo, required, splitList, type Io,
} from './common.js';
import { json, oneLine, shortTime, table } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit, outputFormat } from './output.js';

/** The exit status of `warden policy test` per decision: 0 only when the statement would be allowed. */
export const POLICY_TEST_EXIT = { allow: 0, deny: 3, require_approval: 4 } as const;

const KINDS = ['user', 'service', 'agent'];
const FORMATS = ['yaml', 'json'];

/** Usage of `warden apply`. */
export const APPLY_USAGE = `Usage:
  warden apply -f FILE [--format yaml|json] [--json]

  -f, --file FILE   policy documents to apply; \`-\` reads standard input. YAML may hold several documents
                    separated by \`---\`; JSON holds one policy or an array. All or nothing: one bad document
                    and nothing is applied.
  --format          how to parse FILE (default: json for a .json file, else yaml)
  --json            print the API's answer as JSON

${CONNECTION_HELP}`;

/** Usage of `warden policies`. */
export const POLICIES_USAGE = `Usage:
  warden policies list [-o table|wide|json|yaml]
  warden policies show NAME [-o yaml|json]    the document as YAML (re-appliable with \`warden apply -f\`)
  warden policies rm NAME

${OUTPUT_HELP}
${CONNECTION_HELP}`;

/** Usage of `warden policy`. */
export const POLICY_USAGE = `Usage:
  warden policy test [--user NAME [--kind user|service|agent] [--groups a,b]] --target TARGET "COMMAND" [--body JSON] [--json]

  Shows what the policies in force decide for COMMAND run by that caller on that target; nothing is run.
  Without --user, the caller is the token's own holder, with its kind and groups.
  COMMAND is in the target's protocol: SQL for a postgres target, a shell command for an ssh target
  (as \`ssh TARGET COMMAND\` would run it), a request \`METHOD /path?query\` for an http or kubernetes target
  (--body gives its JSON body). \`-\` reads it from standard input.

Exit status (so scripts can act on the decision): 0 allowed, ${POLICY_TEST_EXIT.deny} denied, ${POLICY_TEST_EXIT.require_approval} needs approval,
1 the test itself failed (e.g. unknown target), 2 usage error.

${CONNECTION_HELP}`;

/** One entry of `GET /api/policies`. */
interface PolicyEntry {
  name: string;
  createdAt: string;
  updatedAt: string;
  policy: { name: string; description?: string; rules: unknown[] };
}

/** The format of a policy file: `--format` when given, else by extension (.json is JSON, anything else YAML). */
export function fileFormat(file: string, flag: string | undefined): 'yaml' | 'json' {
  if (flag !== undefined) {
    if (!FORMATS.includes(flag)) throw new UsageError(`--format must be one of yaml, json, got "${flag}"`);
    return flag as 'yaml' | 'json';
  }
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

function readPolicyFile(file: string, io: Io): Promise<string> | string {
  if (file === '-') return io.readStdin();
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Runs `warden apply ...`; returns the exit code. */
export async function runApply(argv: string[], io: Io = processIo()): Promise<number> {
  return guard(io, APPLY_USAGE, async () => {
    const { values, positionals } = parseCommand(argv, {
      ...CONNECTION_OPTIONS, file: { type: 'string', short: 'f' }, format: { type: 'string' }, json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout(APPLY_USAGE);
      return 0;
    }
    expectPositionals(positionals, []);
    const file = required(values.file, 'file');
    const format = fileFormat(file, values.format);
    const client = clientFor(values, io);
    const text = await readPolicyFile(file, io);
    const result = await client.post<{ applied: { kind: string; name: string; status: string }[]; warnings?: string[] }>(
      '/api/apply', { text, format });
    io.stdout(values.json ? json(result)
      : result.applied.map((a) => `${a.kind === 'Policy' ? 'policy' : 'identityprovider'}/${oneLine(a.name)} ${a.status}\n`).join(''));
    for (const warning of result.warnings ?? []) io.stderr(`warning: ${oneLine(warning)}\n`);
    return 0;
  });
}

/** The policies table: name, rule count, last apply, description; `wide` adds the creation time. */
export function policiesTable(entries: PolicyEntry[], wide = false): string {
  if (entries.length === 0) return 'no policies\n';
  return table(
    ['name', 'rules', ...(wide ? ['created'] : []), 'updated', 'description'],
    entries.map((e) => [e.name, String(e.policy.rules.length), ...(wide ? [shortTime(e.createdAt)] : []),
      shortTime(e.updatedAt), e.policy.description ?? '-']),
  );
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const entries = await clientFor(values, io).get<PolicyEntry[]>('/api/policies');
  emit(io, values, entries, () => policiesTable(entries), () => policiesTable(entries, true));
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [name] = expectPositionals(positionals, ['NAME']);
  outputFormat(values);
  const policy = await clientFor(values, io).get<Record<string, unknown>>(`/api/policies/${seg(name)}`);
  // A policy's readable form is its YAML document: the table formats show that too.
  emit(io, values, policy, () => stringify(policy));
  return 0;
}

async function rm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, CONNECTION_OPTIONS);
  const [name] = expectPositionals(positionals, ['NAME']);
  await clientFor(values, io).delete(`/api/policies/${seg(name)}`);
  io.stdout(`policy ${oneLine(name)} removed\n`);
  return 0;
}

/** Runs `warden policies ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, POLICIES_USAGE, { list, ls: list, show, get: show, rm, remove: rm });
}

/**
 * The readable answer of `warden policy test`: the decision line, its details, then one line per analysed unit (an
 * SQL statement with its tables and functions, a shell command with its programs and paths).
 */
export function testReport(r: PolicyTestResult): string {
  const o = oneLine;
  const lines = [`${o(r.effect)}  (${o(r.rule ?? 'default')})  classes: ${o(r.classes.join(',')) || '-'}`];
  if (r.message !== undefined) lines.push(`  message: ${o(r.message)}`);
  if (r.approval !== undefined) {
    const who = [...r.approval.groups.map((g) => `group ${g}`), ...r.approval.users.map((u) => `user ${u}`)].join(', ');
    lines.push(`  approvers: ${o(who)}; ${r.approval.count} needed; timeout ${r.approval.timeoutSeconds}s`);
  }
  if (r.parseError !== undefined) lines.push(`  parse error: ${o(r.parseError)}`);
  for (const warning of r.warnings ?? []) lines.push(`  warning: ${o(warning)}`);
  r.statements.forEach((s, i) => {
    const facts = [s.classes.join(','), s.kind];
    if (s.tables.length > 0) facts.push(`tables=${s.tables.join(',')}`);
    if (s.functions.length > 0) facts.push(`functions=${s.functions.join(',')}`);
    if (s.unboundedWrite) facts.push('unbounded-write');
    // Other protocols' attributes (programs, paths); SQL's are the fields above and never carry `attributes`.
    for (const [key, values] of Object.entries(s.attributes ?? {})) {
      if (values.length > 0) facts.push(`${key}=${values.join(',')}`);
    }
    lines.push(`  ${i + 1}. ${facts.map(o).join('  ')}  ${o(s.text)}`);
  });
  return lines.join('\n') + '\n';
}

async function test(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, user: { type: 'string' }, kind: { type: 'string' }, groups: { type: 'string' },
    target: { type: 'string' }, json: { type: 'boolean' }, body: { type: 'string' },
  });
  const [commandArg] = expectPositionals(positionals, ['COMMAND']);
  if (values.kind !== undefined && !KINDS.includes(values.kind)) {
    throw new UsageError(`--kind must be one of ${KINDS.join(', ')}, got "${values.kind}"`);
  }
  const target = required(values.target, 'target');
  const client = clientFor(values, io);
  // Without --user: as the token's holder (who runs the test), with its own kind and groups unless given.
  const self = values.user === undefined ? await client.get<WhoamiView>('/api/whoami') : undefined;
  const kind = values.kind ?? self?.kind;
  const groups = values.groups !== undefined ? splitList(values.groups) : self?.groups;
  const body = {
    user: values.user ?? self!.user,
    target,
    ...(kind ? { kind } : {}),
    ...(groups !== undefined ? { groups } : {}),
  };
  const command = commandArg === '-' ? await io.readStdin() : commandArg;
  if (command.trim() === '') throw new UsageError('the command to test is empty');
  const result = await client.post<PolicyTestResult>('/api/policy/test',
    { ...body, command, ...(values.body !== undefined ? { body: values.body } : {}) });
  io.stdout(values.json ? json(result) : testReport(result));
  // Fail closed: an effect this CLI does not know is not an allow.
  return Object.hasOwn(POLICY_TEST_EXIT, result.effect) ? POLICY_TEST_EXIT[result.effect as keyof typeof POLICY_TEST_EXIT]
    : POLICY_TEST_EXIT.deny;
}

/** Runs `warden policy ...`; returns the exit code. */
export async function runPolicy(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, POLICY_USAGE, { test });
}
