/**
 * Tests of `warden apply`, `warden policies` and `warden policy test` against a real control API (real store,
 * parser, evaluator and SQL analyser) on a loopback port. The main flows spawn the real `bin/warden.mjs`; usage
 * errors and formatting run `main` in-process with a captured terminal.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { createControlFixture, type ControlFixture } from '../control/test-fixture.js';
import { runCaptured, runSpawned, type CliRun } from './test-io.js';
import { main } from './main.js';
import { fileFormat, testReport } from './policies.js';
import { GUARDRAILS_YAML } from '../policy/test-fixtures.js';

/** The policy of the issue, applied as written. */
const GUARDRAILS = GUARDRAILS_YAML;


let fx: ControlFixture;
let url: string;
let cwd: string; // an empty directory, so no ./.warden/admin.token is picked up by accident

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  cwd = await mkdtemp(join(tmpdir(), 'warden-cli-policies-'));
  await writeFile(join(cwd, 'guardrails.yaml'), GUARDRAILS);
});
after(async () => {
  await fx?.close();
  await rm(cwd, { recursive: true, force: true });
});

type Run = CliRun;

/** Runs the real `warden` executable as a child process. */
function spawned(args: string[], stdin = ''): Promise<Run> {
  return runSpawned(args, { env: { WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken }, cwd, stdin });
}

/** Runs `main` in this process with a captured terminal. */
function cli(args: string[], stdin = ''): Promise<Run> {
  return runCaptured(args, { env: { WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken }, cwd, stdin });
}

describe('warden apply and policies (spawned)', () => {
  test('targets add, apply the guardrails, apply again, list, show, rm', async () => {
    const add = await spawned(['targets', 'add', 'pg-prod', '--type', 'postgres', '--host', 'db.internal', '--port', '5432',
      '--database', 'app', '--user', 'app']);
    assert.equal(add.code, 0, add.stderr);

    let r = await spawned(['apply', '-f', 'guardrails.yaml']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'policy/prod-guardrails created\n', '']);
    r = await spawned(['apply', '-f', join(cwd, 'guardrails.yaml'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { applied: [{ kind: 'Policy', name: 'prod-guardrails', status: 'unchanged' }] });

    r = await spawned(['policies', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trimEnd().split('\n');
    assert.match(header, /^NAME\s+RULES\s+UPDATED\s+DESCRIPTION$/);
    assert.match(row, /^prod-guardrails\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-$/);

    r = await spawned(['policies', 'show', 'prod-guardrails']);
    assert.equal(r.code, 0, r.stderr);
    const doc = parse(r.stdout);
    assert.equal(doc.name, 'prod-guardrails');
    assert.equal(doc.rules[1].timeout, '2m');
    // What `show` prints applies back unchanged: it is the document, not a view of it.
    await writeFile(join(cwd, 'shown.yaml'), r.stdout);
    assert.equal((await spawned(['apply', '-f', 'shown.yaml'])).stdout, 'policy/prod-guardrails unchanged\n');

    r = await spawned(['policies', 'rm', 'prod-guardrails']);
    assert.deepEqual([r.code, r.stdout], [0, 'policy prod-guardrails removed\n']);
    r = await spawned(['policies', 'show', 'prod-guardrails']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /policy prod-guardrails not found \(WARDEN_ERR_NOT_FOUND\)/);
  });

  test('policy test --json: require_approval for an agent write, deny for DROP, allow for SELECT', async () => {
    const applied = await spawned(['apply', '-f', '-'], GUARDRAILS);
    assert.equal(applied.stdout, 'policy/prod-guardrails created\n', applied.stderr);
    const base = ['policy', 'test', '--user', 'bot', '--groups', 'agents', '--kind', 'agent', '--target', 'pg-prod', '--json'];
    // DROP is ddl and destructive: the destructive rule outranks the default deny of ddl, so the rule is named.
    // The exit status follows the decision (0 only for allow), so scripts can act on it: 4 approval, 3 deny.
    const cases: [string, string, string | undefined, number][] = [
      ['INSERT INTO t VALUES (1)', 'require_approval', 'prod-guardrails/writes-need-approval', 4],
      ['DROP TABLE t', 'deny', 'prod-guardrails/block-destructive', 3],
      ['SELECT 1', 'allow', 'prod-guardrails/reads-and-writes', 0],
    ];
    const runs = await Promise.all(cases.map(([sql]) => spawned([...base, sql])));
    runs.forEach((r, i) => {
      assert.equal(r.code, cases[i][3], `${cases[i][0]}: ${r.stderr}`);
      const body = JSON.parse(r.stdout);
      assert.deepEqual([body.effect, body.rule], cases[i].slice(1, 3), cases[i][0]);
      assert.ok(Array.isArray(body.classes));
    });
    assert.deepEqual(JSON.parse(runs[0].stdout).classes, ['write']);
  });

  test('policy test prints the decision and one line per statement', async () => {
    const r = await spawned(['policy', 'test', '--user', 'bot', '--groups', 'agents', '--target', 'pg-prod',
      'INSERT INTO t VALUES (1); UPDATE s.u SET a = lower(a) WHERE id = 2']);
    assert.equal(r.code, 4, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'require_approval  (prod-guardrails/writes-need-approval)  classes: write');
    assert.equal(lines[1], '  approvers: group dba; 1 needed; timeout 120s');
    assert.match(lines[2], /^ {2}1\. write {2}InsertStmt {2}tables=t {2}INSERT INTO t VALUES \(1\)$/);
    assert.match(lines[3], /^ {2}2\. write {2}UpdateStmt {2}tables=s\.u {2}functions=lower {2}UPDATE s\.u SET a = lower\(a\) WHERE id = 2$/);
  });
});

describe('errors and formatting (in-process)', () => {
  test('a bad file applies nothing and says why; usage errors exit 2', async () => {
    await writeFile(join(cwd, 'bad.json'), JSON.stringify({ kind: 'Policy', name: 'bad', rules: [{ name: 'r', effect: 'maybe' }] }));
    let r = await cli(['apply', '-f', 'bad.json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /policy "bad": rules\[0\]\.effect: must be one of allow, deny, require_approval \(WARDEN_ERR_BAD_REQUEST\)/);
    assert.equal((await cli(['policies', 'show', 'bad'])).code, 1);
    r = await cli(['apply', '-f', 'missing.yaml']);
    assert.deepEqual([r.code, /cannot read missing\.yaml: ENOENT/.test(r.stderr)], [1, true]);
    for (const args of [['apply'], ['apply', '-f', 'x.yaml', 'extra'], ['apply', '-f', 'x', '--format', 'toml'],
      ['policy', 'test', '--user', 'u', 'SELECT 1'],
      ['policy', 'test', '--user', 'u', '--target', 't'], ['policy', 'test', '--user', 'u', '--target', 't', '--kind', 'bot', 'x'],
      ['policies', 'show'], ['policy', 'explain']]) {
      const bad = await cli(args);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /Usage:/);
    }
  });

  test('policy test on an unknown target fails with the API code; SQL can come from stdin', async () => {
    let r = await cli(['policy', 'test', '--user', 'u', '--target', 'nope', 'SELECT 1']);
    assert.deepEqual([r.code, /target nope not found \(WARDEN_ERR_TARGET_NOT_FOUND\)/.test(r.stderr)], [1, true]);
    r = await cli(['policy', 'test', '--user', 'u', '--target', 'pg-prod', '-'], 'TRUNCATE t');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^deny {2}\(prod-guardrails\/block-destructive\) {2}classes: destructive,write\n/);
    assert.match(r.stdout, /\n {2}message: destructive statements are blocked on production\n/);
  });

  test('help is listed at the top level and per command', async () => {
    const top = await cli(['--help']);
    for (const word of ['apply', 'policies', 'policy']) assert.match(top.stdout, new RegExp(`^  ${word} `, 'm'));
    assert.match((await cli(['apply', '--help'])).stdout, /warden apply -f FILE/);
    assert.match((await cli(['policies', '--help'])).stdout, /policies show NAME/);
    assert.match((await cli(['policy', 'test', '--help'])).stdout, /policy test \[--user NAME/);
  });

  test('fileFormat and testReport', () => {
    assert.equal(fileFormat('a/b.JSON', undefined), 'json');
    assert.equal(fileFormat('a.yml', undefined), 'yaml');
    assert.equal(fileFormat('-', undefined), 'yaml');
    assert.equal(fileFormat('a.json', 'yaml'), 'yaml');
    const report = testReport({
      effect: 'deny', message: 'no\x1b[31m', classes: ['unknown'], parseError: 'syntax error at or near "SELEC"',
      statements: [{ text: 'SELEC\n1', kind: 'Unparseable', classes: ['unknown'], tables: [], schemas: [], functions: [], unboundedWrite: false }],
    });
    assert.equal(report, 'deny  (default)  classes: unknown\n  message: no\\x1b[31m\n'
      + '  parse error: syntax error at or near "SELEC"\n  1. unknown  Unparseable  SELEC 1\n');
  });
});
