/**
 * The README's examples, run as written. Every fenced `sh` block of README.md preceded by a `<!-- test -->` line
 * (or `<!-- test: prints "TEXT" -->`, which also requires TEXT in the block's output) runs in order in one real bash
 * with `set -euo pipefail`, against a live `warden start` and a real PostgreSQL whose target is `pg-main`, from a
 * fresh directory. The CLI finds that Warden through WARDEN_DATA_DIR (its ports.json and admin.token), as a reader
 * in the directory where they ran `warden start` would. Only these things are adapted, and the test says so: the
 * default ports (`127.0.0.1:8080`, `port=15432`, `:8081`) become the test Warden's, `npx warden` runs this checkout's
 * bin/warden.mjs (npx is never allowed to reach the registry), and the HTTP examples' `https://billing.internal:8443`
 * is the test HTTP upstream's echo route (its CA in `billing-ca.crt`, its bearer credential in `$BILLING_API_KEY`);
 * Warden runs with `--http-domain warden.example` for the host-name example.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startHttpUpstream, type HttpUpstream } from './harness/http-upstream.js';
import { runProcess } from './harness/process.js';
import { startStack, type Stack } from './harness/stack.js';
import { WARDEN_BIN } from './harness/warden.js';

/** One runnable example: its text, the README line it starts on and the output it must contain. */
interface Example {
  line: number;
  text: string;
  prints?: string;
}

/** A policy that decides nothing (the README's own policies decide), so the harness's allow-all is not applied. */
const NEUTRAL_POLICY = `kind: Policy
name: zz-readme-harness
rules:
  - name: nothing-here
    targets: ["no-such-target"]
    effect: deny
    message: never matches
`;

/** The marked `sh` blocks of a README text, in order. */
export function runnableExamples(readme: string): Example[] {
  const lines = readme.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!-- test(?:: prints "([^"]+)")? -->$/.exec(lines[i].trim());
    if (!marker) continue;
    let start = i + 1;
    while (start < lines.length && lines[start].trim() === '') start++;
    if (lines[start]?.trim() !== '```sh') throw new Error(`README line ${i + 1}: <!-- test --> must precede a \`\`\`sh block`);
    const end = lines.findIndex((l, j) => j > start && l.trim() === '```');
    if (end < 0) throw new Error(`README line ${start + 1}: unterminated block`);
    examples.push({ line: start + 2, text: lines.slice(start + 1, end).join('\n'), prints: marker[1] });
    i = end;
  }
  return examples;
}

let stack: Stack;
let dir: string;
let billing: HttpUpstream;

before(async () => {
  stack = await startStack({ policy: NEUTRAL_POLICY, wardenArgs: ['--http-domain', 'warden.example'] });
  dir = await mkdtemp(join(tmpdir(), 'warden-readme-'));
  billing = await startHttpUpstream({ auth: { kind: 'bearer' } });
  await writeFile(join(dir, 'billing-ca.crt'), billing.ca);
  // The reader's environment: `pg-main/otherdb` in the psql example names a second database on the same server.
  const admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE otherdb');
  } finally {
    await admin.end();
  }
});
after(async () => {
  await billing?.close();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The bash script: a shim for `npx warden`, then each example after a marker line, with the ports adapted. */
function script(examples: Example[]): string {
  const port = (text: string) => text.replaceAll('127.0.0.1:8080', `127.0.0.1:${stack.warden.ports.api}`)
    .replaceAll('port=15432', `port=${stack.warden.ports.postgres}`).replaceAll(':8081', `:${stack.warden.ports.http}`)
    .replaceAll('https://billing.internal:8443', `${billing.url}/echo`);
  return [
    'set -euo pipefail',
    `npx() { if [ "$1" = warden ]; then shift; node '${WARDEN_BIN}' "$@"; else echo "npx $1: not in the README test" >&2; return 127; fi; }`,
    // A marker on a line of its own even after output without a final newline (curl's JSON).
    ...examples.flatMap((e, i) => [`printf '\\n::example ${i}::\\n'`, port(e.text)]),
    "printf '\\n::done::\\n'",
  ].join('\n');
}

describe('README examples', () => {
  test('every marked shell block runs as written against a live Warden and PostgreSQL', async () => {
    const examples = runnableExamples(await readFile(new URL('../README.md', import.meta.url), 'utf8'));
    assert.ok(examples.length >= 3, `only ${examples.length} marked examples`);
    assert.ok(examples.some((e) => e.text.includes('client_secret@planner.key')), 'the client-credentials curl example is run');
    const env: Record<string, string> = { ...process.env as Record<string, string>, WARDEN_DATA_DIR: stack.warden.dataDir };
    for (const name of ['WARDEN_URL', 'WARDEN_TOKEN', 'PGPASSWORD', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE']) delete env[name];
    env.PGCONNECT_TIMEOUT = '10';
    env.BILLING_API_KEY = billing.auth.secret;
    const run = await runProcess('bash', ['--norc', '--noprofile', '-c', script(examples)], { cwd: dir, env, stdin: '' });
    const outputs = run.stdout.split(/^::example \d+::\n/m).slice(1);
    const failed = outputs.length - 1;
    assert.equal(run.code, 0, `README example at line ${examples[failed]?.line} failed (exit ${run.code}):\n`
      + `${examples[failed]?.text}\n--- stdout\n${outputs[failed] ?? run.stdout}\n--- stderr\n${run.stderr}`);
    assert.match(run.stdout, /::done::\n$/);
    examples.forEach((e, i) => {
      if (e.prints !== undefined) assert.ok(outputs[i].includes(e.prints), `README line ${e.line} should print ${e.prints}:\n${outputs[i]}`);
    });
    // What the examples left behind is real: the policy is in force, planner has a key, executor's session ran.
    const curl = outputs.find((o) => o.includes('access_token'))!;
    assert.ok(!/invalid_client/.test(curl), curl);
    // The HTTP examples reached the upstream with the vaulted credential in place of the caller's Warden token.
    const invoices = billing.received.filter((r) => r.url === '/echo/v1/invoices?status=open');
    assert.equal(invoices.length, 1, JSON.stringify(billing.received.map((r) => r.url)));
    assert.equal(invoices[0].headers.authorization, `Bearer ${billing.auth.secret}`);
    assert.equal(billing.received.filter((r) => r.url === '/echo/v1/invoices').length, 2, 'both host-name examples arrived');
    const sessions = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json'])).stdout) as { subject: string; endReason: string | null }[];
    for (const who of ['alice', 'executor']) {
      assert.ok(sessions.some((s) => s.subject === who && !String(s.endReason).startsWith('refused')), `${who} connected: ${JSON.stringify(sessions)}`);
    }
  });

  test('sessions show names the rule behind every decision of the README\'s policy, allows included', async () => {
    const token = await stack.token('reader', '--ttl', '10m');
    const r = await stack.psql(['-c', 'SELECT 41 + 1', '-c', 'DROP TABLE IF EXISTS nothing_here'], { user: 'reader', token });
    assert.notEqual(r.code, 0, 'the DROP is refused');
    assert.match(r.stdout, /^42$/m);
    const [session] = JSON.parse((await stack.warden.cli(['sessions', 'list', '--subject', 'reader', '--json'])).stdout) as { id: string }[];
    const show = await stack.warden.cli(['sessions', 'show', session.id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /statement\s+SELECT 41 \+ 1 .*\[allowed by prod-guardrails\/reads-and-writes\]/);
    assert.match(show.stdout, /statement\.denied\s+DROP TABLE IF EXISTS nothing_here \[denied by prod-guardrails\/block-destructive\]/);
  });
});
