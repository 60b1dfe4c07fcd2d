/**
 * Regression tests of issue 11's CLI items, each against a real control API (real store, tokens and approvals) on
 * a loopback port, mostly through the real `bin/warden.mjs` process: usage errors with suggestions, `-o`, the URL
 * and ports.json rules, `status`/`whoami`, `users` with unknown names, secrets read with surrounding whitespace,
 * `approvals list --watch`, `access request --wait`, `start --help` and shell completion run by real bash.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { ControlFixture } from '../control/test-fixture.js';
import { startCliApi, type CliApi } from './test-api.js';
import { runSpawned, WARDEN_BIN, type CliEnv } from './test-io.js';
import type { Subject } from '../session/types.js';
import { runProcess, type ProcessResult } from '../../test/harness/process.js';
import { decisionText } from './format.js';

const BIN = WARDEN_BIN;

let api: CliApi;
let fx: ControlFixture;
let url: string;
let cwd: string;
let tokens: Record<string, string>;
let alice: Subject;

before(async () => {
  api = await startCliApi({ prefix: 'warden-cli-x-', targets: ['pg-app', 'pg-hr', 'other'],
    users: { alice: { groups: ['dev'], targets: ['pg-*'] }, bob: { groups: ['dba'] } } });
  ({ fx, url, cwd, tokens } = api);
  alice = await fx.tokens.verify(tokens.alice);
  const policy = `kind: Policy\nname: devs\nrules:\n  - name: dev-reads\n    targets: ["pg-app", "other"]\n    subjects: { groups: [dev] }\n    match: { classes: [read] }\n    effect: allow\n`;
  assert.equal((await warden('admin', ['apply', '-f', '-'], { stdin: policy })).code, 0);
});
after(async () => { await api.close(); });

/** Runs the real `warden` as `as` (their token in WARDEN_TOKEN, WARDEN_URL set unless `env` says otherwise). */
function warden(as: string, args: string[], o: { stdin?: string; env?: CliEnv; cwd?: string } = {}): Promise<ProcessResult> {
  return runSpawned(args, { env: { WARDEN_URL: url, WARDEN_TOKEN: tokens[as], ...o.env }, cwd: o.cwd ?? cwd, stdin: o.stdin });
}

/** A running `warden` whose stdout and stderr the test can wait on; it ends with SIGINT like Ctrl-C. */
function running(as: string, args: string[], o: { tty?: boolean } = {}) {
  // With tty, util-linux `script` runs the command on a pseudo-terminal (stdout and stderr both go to it).
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [file, argv] = o.tty ? ['script', ['-qfec', quoted, '/dev/null']] : [process.execPath, [BIN, ...args]];
  const child = spawn(file, argv, { cwd, env: { ...process.env, WARDEN_URL: url, WARDEN_TOKEN: tokens[as] },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const poke = () => { for (const w of waiters) w(); };
  child.stdout.on('data', (d) => { stdout += d; poke(); });
  child.stderr.on('data', (d) => { stderr += d; poke(); });
  const result = new Promise<ProcessResult>((resolve) => child.on('close', (code) => { poke(); resolve({ code: code ?? -1, stdout, stderr }); }));
  const waitFor = (stream: 'stdout' | 'stderr', pattern: RegExp) => new Promise<void>((resolve, reject) => {
    const check = () => {
      if (pattern.test(stream === 'stdout' ? stdout : stderr)) { waiters.delete(check); resolve(); }
      else if (child.exitCode !== null) { waiters.delete(check); reject(new Error(`exited before ${pattern}: ${stdout}\n${stderr}`)); }
    };
    waiters.add(check);
    check();
  });
  return { child, result, waitFor, stdout: () => stdout };
}

describe('usage errors in Warden\'s words', () => {
  test('a mistyped command, subcommand or flag gets a suggestion and only the failing subcommand\'s usage', async () => {
    const cmd = await warden('admin', ['targest', 'list']);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /^warden: unknown command "targest"; did you mean "targets"\?\n/);
    assert.ok(!cmd.stderr.includes('service-accounts'), 'the whole command list buries the suggestion');
    const sub = await warden('admin', ['approvals', 'aprove', 'apr_x']);
    assert.match(sub.stderr, /unknown subcommand "aprove" of warden approvals; did you mean "approve"\?/);
    const flag = await warden('admin', ['targets', 'list', '--ouptut', 'json']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^warden: unknown flag "--ouptut"; did you mean "--output"\?\n/);
    assert.match(flag.stderr, /warden targets list \[-o/);
    for (const other of ['warden targets add', 'warden targets show', 'warden targets rm']) {
      assert.ok(!flag.stderr.includes(other), `${other} is not the failing subcommand`);
    }
    assert.ok(!flag.stderr.includes('To specify a positional argument'), 'node\'s own wording leaked');
    const missing = await warden('admin', ['tokens', 'create', '--user']);
    assert.match(missing.stderr, /^warden: flag --user needs a value\n/);
    assert.match(missing.stderr, /warden tokens create --user NAME/);
    assert.ok(!missing.stderr.includes('warden tokens delegate'));
    const start = await warden('admin', ['start', '--api-prot', '0']);
    assert.equal(start.code, 2);
    assert.match(start.stderr, /unknown flag "--api-prot"; did you mean "--api-port"\?/);
  });
});

describe('-o table|wide|json|yaml', () => {
  test('every format of targets list; --json stays an alias; bad or contradicting choices are usage errors', async () => {
    const asJson = JSON.parse((await warden('admin', ['targets', 'list', '-o', 'json'])).stdout);
    assert.deepEqual(JSON.parse((await warden('admin', ['targets', 'list', '--json'])).stdout), asJson);
    assert.deepEqual(parseYaml((await warden('admin', ['targets', 'list', '-o', 'yaml'])).stdout), asJson);
    const table = (await warden('admin', ['targets', 'list'])).stdout;
    const wide = (await warden('admin', ['targets', 'list', '--output', 'wide'])).stdout;
    assert.match(table.split('\n')[0], /^NAME\s+TYPE\s+ADDRESS\s+DATABASE\s+USER\s+TLS\s+PASSWORD\s+LABELS$/);
    assert.match(wide.split('\n')[0], /^NAME\s+TYPE\s+ADDRESS\s+DATABASE\s+USER\s+TLS\s+PASSWORD\s+CA\s+CREATED\s+UPDATED\s+LABELS$/);
    assert.equal((await warden('admin', ['targets', 'list', '-o', 'xml'])).code, 2);
    const clash = await warden('admin', ['targets', 'list', '--json', '-o', 'yaml']);
    assert.deepEqual([clash.code, /contradict/.test(clash.stderr)], [2, true]);
  });

  test('list and show commands of every group accept -o yaml', async () => {
    const commands = [['tokens', 'list'], ['sessions', 'list'], ['users', 'list'], ['policies', 'list'], ['policies', 'show', 'devs'],
      ['service-accounts', 'list'], ['identity-providers', 'list'], ['approvals', 'list'], ['targets', 'show', 'pg-app'], ['status']];
    for (const args of commands) {
      const r = await warden('admin', [...args, '-o', 'yaml']);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(parseYaml(r.stdout), undefined, args.join(' '));
      const w = await warden('admin', [...args, '-o', 'wide']);
      assert.equal(w.code, 0, `${args.join(' ')} -o wide: ${w.stderr}`);
    }
  });

  test('approvals list shows the reason of each request', async () => {
    const { request } = await fx.deps.approvals.requestStatement({
      sessionId: 'ses_x', subject: alice, target: 'pg-app', statement: 'UPDATE t SET a = 1 WHERE id = 2', classes: ['write'],
      reason: 'ticket 4711', rule: 'prod/writes', requirement: { groups: ['dba'], users: [], count: 1, timeoutSeconds: 600 },
    });
    const r = await warden('bob', ['approvals', 'list']);
    assert.match(r.stdout.split('\n')[0], /\bREASON\b/);
    assert.match(r.stdout, new RegExp(`${request.id}.*ticket 4711`));
    await fx.deps.approvals.cancel(request.id, 'test over');
  });
});

describe('where the CLI finds Warden', () => {
  test('--url without a scheme says it needs http:// or https://', async () => {
    const r = await warden('admin', ['targets', 'list', '--url', 'localhost:8080']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'warden: the Warden URL "localhost:8080" needs http:// or https:// (e.g. http://localhost:8080)\n');
    const env = await warden('admin', ['status'], { env: { WARDEN_URL: '127.0.0.1:8080' } });
    assert.match(env.stderr, /needs http:\/\/ or https:\/\//);
  });

  test('without WARDEN_URL the API port comes from ports.json in the data dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-cli-ports-'));
    try {
      await mkdir(join(dir, '.warden'));
      const port = Number(new URL(url).port);
      await writeFile(join(dir, '.warden', 'ports.json'), `${JSON.stringify({ api: port, postgres: 1 })}\n`);
      await writeFile(join(dir, '.warden', 'admin.token'), `${fx.adminToken}\n`);
      const local = await warden('admin', ['targets', 'list', '--json'], { cwd: dir, env: { WARDEN_URL: undefined, WARDEN_TOKEN: undefined } });
      assert.equal(local.code, 0, local.stderr);
      assert.deepEqual(JSON.parse(local.stdout).map((t: { name: string }) => t.name).sort(), ['other', 'pg-app', 'pg-hr']);
      const viaEnv = await warden('admin', ['status', '-o', 'json'], { env: { WARDEN_URL: undefined, WARDEN_DATA_DIR: join(dir, '.warden') } });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.equal(JSON.parse(viaEnv.stdout).url, `http://127.0.0.1:${port}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('warden status / whoami', () => {
  test('who I am, which Warden, when the token ends and exactly the targets it may reach', async () => {
    const r = await warden('alice', ['whoami']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^user {5}alice \(user\)\n/);
    assert.match(r.stdout, new RegExp(`\\nwarden {3}${url.replace(/[.]/g, '\\.')} \\(version 0\\.0\\.0-test\\)\\n`));
    assert.match(r.stdout, /\ntoken {4}\S+, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(in (\d+m|1h 0m)\), from \$WARDEN_TOKEN\n/);
    assert.match(r.stdout, /\nadmin {4}no\n/);
    // Where to connect, and the SSH host key fingerprint to pin.
    assert.match(r.stdout, /\npostgres port 15432\nssh {6}port 2222; SSH host key SHA256:fixture\n/);
    // pg-app: the policy allows dev reads; pg-hr: in the token's scope but no policy; other: a policy, outside the scope.
    assert.match(r.stdout, /\ntargets {2}pg-app \(postgres, via policy\)\n$/);
    assert.ok(!r.stdout.includes(tokens.alice), 'the token itself is never printed');
    const json = JSON.parse((await warden('alice', ['status', '-o', 'json'])).stdout);
    assert.deepEqual([json.user, json.targets, json.targetPatterns, json.admin], ['alice', [{ name: 'pg-app', type: 'postgres', via: 'policy' }], ['pg-*'], false]);
    assert.equal(Date.parse(json.expiresAt), (await fx.tokens.verify(tokens.alice)).expiresAt * 1000);
    assert.deepEqual(json.listeners, [{ protocol: 'postgres', port: 15432 }, { protocol: 'ssh', port: 2222, note: 'SSH host key SHA256:fixture' }]);
    const bad = await warden('alice', ['status'], { env: { WARDEN_TOKEN: 'garbage' } });
    assert.deepEqual([bad.code, /WARDEN_ERR_TOKEN_INVALID/.test(bad.stderr)], [1, true]);
  });
});

describe('warden users', () => {
  test('disable refuses an unknown name unless --force; list shows every principal with tokens or sessions', async () => {
    const typo = await warden('admin', ['users', 'disable', 'alcie']);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /no user "alcie" is known to Warden .*did you mean "alice"\?.*--force/);
    assert.equal(await fx.store.users.get('alcie'), undefined, 'the typo created a user');
    const forced = await warden('admin', ['users', 'disable', 'future-hire', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual((await fx.store.users.get('future-hire'))?.disabledAt ?? null, null);
    const known = await warden('admin', ['users', 'disable', 'bob']);
    assert.equal(known.code, 0, known.stderr);
    assert.equal((await warden('admin', ['users', 'enable', 'bob'])).code, 0);

    const list = await warden('admin', ['users', 'list']);
    assert.match(list.stdout.split('\n')[0], /^NAME\s+KIND\s+ACTIVE TOKENS\s+SESSIONS\s+LAST SEEN\s+STATUS$/);
    assert.match(list.stdout, /\nalice\s+user\s+1\s+0\s/);
    assert.match(list.stdout, /\nfuture-hire\s+user\s+0\s+0\s+-\s+disabled /);
    const names = JSON.parse((await warden('admin', ['users', 'list', '--json'])).stdout).map((p: { name: string }) => p.name);
    for (const name of ['alice', 'bob', 'future-hire']) assert.ok(names.includes(name), name);
  });
});

describe('secrets read from stdin or files', () => {
  test('surrounding whitespace is removed from --password-stdin, --key-stdin and the OAuth client_secret', async () => {
    const add = await warden('admin', ['targets', 'add', 'pg-ws', '--type', 'postgres', '--host', 'h', '--port', '5432',
      '--database', 'd', '--user', 'u', '--password-stdin'], { stdin: '  pw-with-spaces-around \r\n\n' });
    assert.equal(add.code, 0, add.stderr);
    const record = await fx.store.targets.get('pg-ws');
    assert.equal(fx.vault.decrypt(record!.passwordEnc!, 'target:pg-ws'), 'pw-with-spaces-around');
    await fx.store.targets.remove('pg-ws');

    assert.equal((await warden('admin', ['service-accounts', 'create', 'ws-bot', '--kind', 'agent', '--targets', 'pg-*'])).code, 0);
    const key = (await warden('admin', ['service-accounts', 'keys', 'create', 'ws-bot'])).stdout;
    assert.match(key, /^wk_\S+\n$/);
    const viaCli = await warden('admin', ['service-accounts', 'token', '--key-stdin'], { stdin: `\n ${key}\n` });
    assert.equal(viaCli.code, 0, viaCli.stderr);
    // The API itself: curl --data-urlencode client_secret@key.txt sends the file's trailing newline.
    const res = await fetch(`${url}/api/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'ws-bot\n', client_secret: key }) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await fx.tokens.verify(((await res.json()) as { access_token: string }).access_token)).id, 'ws-bot');
  });
});

describe('long-running commands', () => {
  test('approvals list --watch shows a new request when it appears and ends on Ctrl-C (SIGINT) with 0', async () => {
    const watch = running('bob', ['approvals', 'list', '--watch', '--interval', '1s']);
    await watch.waitFor('stdout', /no approval requests/);
    const { request } = await fx.deps.approvals.requestStatement({
      sessionId: 'ses_w', subject: alice, target: 'pg-app', statement: 'DELETE FROM t WHERE id = 7', classes: ['write'],
      reason: 'cleanup', rule: 'prod/writes', requirement: { groups: ['dba'], users: [], count: 1, timeoutSeconds: 600 },
    });
    await watch.waitFor('stdout', new RegExp(request.id));
    watch.child.kill('SIGINT');
    const r = await watch.result;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^--- warden approvals list --status pending {2}\(every 1s; Ctrl-C to stop\)/);
    await fx.deps.approvals.cancel(request.id, 'test over');
  });

  test('access request --wait returns when the request is decided: 0 when approved, 1 when denied', async () => {
    const approved = running('alice', ['access', 'request', '--target', 'pg-hr', '--duration', '1h', '--reason', 'audit', '--wait']);
    await approved.waitFor('stdout', /^apr_\S+\n/);
    const id = approved.stdout().trim();
    assert.equal((await warden('admin', ['approvals', 'approve', id])).code, 0);
    const ok = await approved.result;
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`request ${id} approved by `));

    const denied = running('alice', ['access', 'request', '--target', 'pg-hr', '--duration', '1h', '--reason', 'again', '--wait']);
    await denied.waitFor('stdout', /^apr_\S+\n/);
    const id2 = denied.stdout().trim();
    assert.equal((await warden('admin', ['approvals', 'deny', id2, '--comment', 'no need'])).code, 0);
    const no = await denied.result;
    assert.equal(no.code, 1);
    assert.match(no.stderr, new RegExp(`warden: request ${id2} was denied by \\S+: no need\\n$`));
  });

  test('access request --wait shows a countdown to the expiry when stderr is a terminal', async () => {
    const tty = running('alice', ['access', 'request', '--target', 'pg-hr', '--duration', '30m', '--reason', 'tty', '--wait'], { tty: true });
    await tty.waitFor('stdout', /Waiting for a decision on apr_\S+: 2[34]h\d\dm left \(Ctrl-C stops waiting\)/);
    const id = /Waiting for a decision on (apr_[\w-]+)/.exec(tty.stdout())![1];
    assert.equal((await warden('admin', ['approvals', 'approve', id])).code, 0);
    const r = await tty.result;
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`request ${id} approved by `));
  });
});

describe('help and completion', () => {
  test('start --help shows each flag\'s meaning and default', async () => {
    const r = await warden('admin', ['start', '--help']);
    assert.equal(r.code, 0);
    for (const [flag, dflt] of [['--api-port PORT', '8080'], ['--postgres-port PORT', '15432'], ['--data-dir DIR', './.warden'],
      ['--default-effect EFFECT', 'deny'], ['--allow-plaintext-loopback', 'off'], ['--log-level LEVEL', 'info']]) {
      assert.match(r.stdout, new RegExp(`\\n  ${flag}\\s+WARDEN_\\w+\\n {6}\\S.*\\(default: ${dflt.replace('.', '\\.')}\\)\\n`), flag);
    }
  });

  test('real bash sources `warden completion bash` and completes commands, subcommands and flags', async () => {
    const script = await warden('admin', ['completion', 'bash']);
    assert.equal(script.code, 0, script.stderr);
    const file = join(cwd, 'warden.bash');
    await writeFile(file, script.stdout);
    const complete = (words: string[]) => `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; `
      + `COMPREPLY=(); _warden; echo "${words.join(' ')} => \${COMPREPLY[*]}"`;
    const bash = await runProcess('bash', ['--norc', '--noprofile', '-c', [`source ${file}`, 'complete -p warden',
      complete(['warden', 'appr']), complete(['warden', 'targets', 'l']), complete(['warden', 'targets', 'add', '--pass']),
      complete(['warden', 'approvals', 'list', '--w']), complete(['warden', 'completion', ''])].join('\n')]);
    assert.equal(bash.code, 0, bash.stderr);
    assert.equal(bash.stdout, ['complete -o filenames -F _warden warden', 'warden appr => approvals',
      'warden targets l => list', 'warden targets add --pass => --password-stdin', 'warden approvals list --w => --watch',
      'warden completion  => bash zsh', ''].join('\n'));
    assert.equal((await warden('admin', ['completion', 'fish'])).code, 2);
  });

  test('real zsh loads `warden completion zsh` (sourced, and from $fpath) and completes commands, subcommands and flags', async () => {
    const script = await warden('admin', ['completion', 'zsh']);
    assert.equal(script.code, 0, script.stderr);
    assert.match(script.stdout, /^#compdef warden\n/);
    const dir = join(cwd, 'zsh-functions');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '_warden'), script.stdout);
    // compadd and _files only work inside a completion widget: stand-ins print what _warden offers for the word
    // being completed (filtered by its prefix, as zsh would), after real compinit registered the function.
    const stubs = ['compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; local -a out; local w',
      '  for w in "$@"; do [[ $w == ${words[CURRENT]}* ]] && out+=($w); done; print -r -- "${words[*]} => ${out[*]}"; }',
      '_files() { print -r -- "${words[*]} => (files)"; }'];
    const complete = (list: string[]) => `words=(${list.map((w) => `'${w}'`).join(' ')}); CURRENT=${list.length}; _warden`;
    const cases = [complete(['warden', 'appr']), complete(['warden', 'targets', 'l']), complete(['warden', 'targets', 'add', '--pass']),
      complete(['warden', 'approvals', 'list', '--w']), complete(['warden', 'completion', '']), complete(['warden', 'policy', 'test', 'x'])];
    const expected = ['comps: _warden', 'warden appr => approvals', 'warden targets l => list',
      'warden targets add --pass => --password-stdin', 'warden approvals list --w => --watch', 'warden completion  => bash zsh',
      'warden policy test x => (files)', ''].join('\n');
    const init = 'autoload -U compinit && compinit -u -D';
    const show = 'print -r -- "comps: ${_comps[warden]}"';
    // As the usage says: source <(warden completion zsh) after compinit.
    const sourced = await runProcess('zsh', ['-f', '-c', [init, `source <(${process.execPath} ${BIN} completion zsh)`, show, ...stubs,
      ...cases].join('\n')], { cwd, env: { ...process.env, WARDEN_URL: 'http://127.0.0.1:1' } });
    assert.equal(sourced.stderr, '');
    assert.equal(sourced.code, 0);
    assert.equal(sourced.stdout, expected);
    // Saved as _warden in $fpath: compinit autoloads the file, and the very first Tab already completes.
    const autoloaded = await runProcess('zsh', ['-f', '-c', [`fpath=(${dir} $fpath)`, init, show, ...stubs, ...cases].join('\n')], { cwd });
    assert.equal(autoloaded.stderr, '');
    assert.equal(autoloaded.code, 0);
    assert.equal(autoloaded.stdout, expected);
  });
});

describe('sessions show names the rule behind every decision', () => {
  test('allows (by a rule or the default), approvals and denials', () => {
    assert.equal(decisionText({ effect: 'allow', rule: 'p/reads', classes: ['read'] }), 'allowed by p/reads');
    assert.equal(decisionText({ effect: 'allow', classes: ['read'] }), 'allowed by the default');
    assert.equal(decisionText({ effect: 'require_approval', rule: 'p/w', approval: 'apr_1' }), 'approved in apr_1 (rule p/w)');
    assert.equal(decisionText({ effect: 'deny', rule: 'p/d' }), 'denied by p/d');
    assert.equal(decisionText(undefined), 'decision unknown');
  });
});
