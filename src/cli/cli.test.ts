/**
 * Tests of the `warden` CLI against a real control API (real store, vault and tokens) listening on a loopback port.
 * Most tests call `main` in-process with a captured Io; the ones marked "spawned" run `node bin/warden.mjs`, which
 * also proves the bin, the tsx loader and the lazy imports work.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';
import { createControlFixture, sessionFixture, type ControlFixture } from '../control/test-fixture.js';
import type { Io } from './common.js';
import { main } from './main.js';
import { runProcess } from '../../test/harness/process.js';

const BIN = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));
const PASSWORD = 'S3cret-pw-XYZ';
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

let fx: ControlFixture;
let url: string;
let cwd: string; // an empty directory, so no ./.warden/admin.token is picked up by accident

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  cwd = await mkdtemp(join(tmpdir(), 'warden-cli-'));
});
after(async () => {
  await fx.close();
  await rm(cwd, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
type Env = Record<string, string | undefined>;

/** Runs `main` in this process with a captured terminal. */
async function cli(args: string[], opts: { stdin?: string; env?: Env; cwd?: string } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => opts.stdin ?? '',
    env: { WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken, ...opts.env },
    cwd: opts.cwd ?? cwd,
    stdinIsTTY: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Runs the real `warden` executable as a child process. */
function spawned(args: string[], opts: { stdin?: string; env?: Env } = {}): Promise<Run> {
  const env: Env = { ...process.env, WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return runProcess(process.execPath, [BIN, ...args], { cwd, env, stdin: opts.stdin });
}

describe('top level', () => {
  test('--version prints the package version (spawned)', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const r = await spawned(['--version']);
    assert.deepEqual([r.code, r.stdout], [0, `${pkg.version}\n`]);
  });

  test('help lists the commands and the admin.token fallback', async () => {
    for (const args of [['--help'], ['help']]) {
      const r = await cli(args);
      assert.equal(r.code, 0);
      for (const word of ['start', 'targets', 'tokens', 'sessions', 'admin.token', 'WARDEN_URL']) assert.ok(r.stdout.includes(word), word);
    }
    const sub = await cli(['help', 'targets']);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /--password-stdin/);
    assert.match((await cli(['tokens', '--help'])).stdout, /tokens create --user NAME/);
    assert.match((await cli(['sessions', 'list', '--help'])).stdout, /sessions show ID/);
  });

  test('an unknown command exits 2 with the usage on stderr (spawned)', async () => {
    const r = await spawned(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /unknown command "frobnicate"/);
    assert.match(r.stderr, /Usage: warden/);
  });

  test('no arguments, unknown subcommands and unknown flags exit 2', async () => {
    assert.equal((await cli([])).code, 2);
    const sub = await cli(['targets', 'explode']);
    assert.deepEqual([sub.code, /unknown subcommand "explode"/.test(sub.stderr)], [2, true]);
    const flag = await cli(['targets', 'list', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--bogus/);
    assert.match(flag.stderr, /Usage:/);
    const extra = await cli(['targets', 'show', 'a', 'b']);
    assert.deepEqual([extra.code, /unexpected argument "b"/.test(extra.stderr)], [2, true]);
  });
});

describe('targets', () => {
  test('add with --password-stdin, then list, show and rm; the password is never printed (spawned)', async () => {
    const add = await spawned(
      ['targets', 'add', 'pg1', '--type', 'postgres', '--host', 'db.internal', '--port', '5432', '--database', 'app',
        '--user', 'app_rw', '--password-stdin', '--label', 'env=prod', '--label', 'team=data'],
      { stdin: `${PASSWORD}\n` },
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^target pg1 added \(/);

    const record = await fx.store.targets.get('pg1');
    assert.ok(record?.passwordEnc);
    assert.equal(fx.vault.decrypt(record.passwordEnc, 'target:pg1'), PASSWORD, 'trailing newline stripped');
    assert.deepEqual(record.labels, { env: 'prod', team: 'data' });

    const outputs = [add];
    const list = await spawned(['targets', 'list']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^NAME\s+TYPE\s+ADDRESS/);
    assert.match(list.stdout, /pg1\s+postgres\s+db\.internal:5432\s+app\s+app_rw\s+prefer\s+yes\s+env=prod,team=data/);
    outputs.push(list, await cli(['targets', 'list', '--json']), await cli(['targets', 'show', 'pg1']));
    const showJson = await cli(['targets', 'show', 'pg1', '--json']);
    outputs.push(showJson);
    assert.equal(JSON.parse(showJson.stdout).hasPassword, true);
    assert.deepEqual(JSON.parse(outputs[2].stdout).map((t: { name: string }) => t.name), ['pg1']);
    for (const r of outputs) {
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'password printed');
      assert.ok(!(r.stdout + r.stderr).includes(record.passwordEnc), 'ciphertext printed');
    }

    const removed = await cli(['targets', 'rm', 'pg1']);
    assert.deepEqual([removed.code, removed.stdout], [0, 'target pg1 removed\n']);
    const gone = await cli(['targets', 'show', 'pg1']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'warden: target pg1 not found (WARDEN_ERR_TARGET_NOT_FOUND)\n');
  });

  test('add with --tls and --ca-file; without a password', async () => {
    const { cert } = await generate([{ name: 'commonName', value: 'CLI CA' }]);
    const caFile = join(cwd, 'ca.pem');
    await writeFile(caFile, cert);
    const r = await cli(['targets', 'add', 'pg-ca', '--type', 'postgres', '--host', 'h', '--port', '5433', '--database', 'd',
      '--user', 'u', '--tls', 'verify-full', '--ca-file', caFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assert.deepEqual([view.tls, view.hasCa, view.hasPassword, view.port], ['verify-full', true, false, 5433]);
    const stored = await fx.store.targets.get('pg-ca');
    assert.equal(stored?.type === 'postgres' ? stored.ca : undefined, cert);
  });

  test('bad add invocations', async () => {
    const base = ['targets', 'add', 'x', '--type', 'postgres', '--host', 'h', '--port', '5432', '--database', 'd', '--user', 'u'];
    const usage: [string[], RegExp][] = [
      [base.filter((a) => a !== '--host' && a !== 'h'), /missing --host/],
      [[...base, '--password', 'pw'], /--password/],
      [[...base.slice(0, 8), '99999', ...base.slice(9)], /--port must be 1-65535/],
      [[...base, '--tls', 'maybe'], /--tls must be one of/],
      [[...base, '--label', 'novalue'], /KEY=VALUE/],
      [[...base, '--password-stdin'], /standard input was empty/],
      [['targets', 'add', '--type', 'postgres'], /missing NAME/],
    ];
    for (const [args, message] of usage) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const conflict = await cli([...base.slice(0, 2), 'pg-ca', ...base.slice(3)]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /\(WARDEN_ERR_CONFLICT\)\n$/);
    const badName = await cli([...base.slice(0, 2), 'a/b', ...base.slice(3)]);
    assert.deepEqual([badName.code, /\(WARDEN_ERR_BAD_REQUEST\)/.test(badName.stderr)], [1, true]);
  });
});

describe('tokens', () => {
  test('create prints only the token (spawned); --json prints the whole answer', async () => {
    const r = await spawned(['tokens', 'create', '--user', 'alice', '--groups', 'dev,ops', '--targets', 'pg-*', '--ttl', '2h', '--kind', 'agent']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.endsWith('\n') && JWT.test(r.stdout.slice(0, -1)), JSON.stringify(r.stdout));
    const subject = await fx.tokens.verify(r.stdout.trim());
    assert.deepEqual([subject.id, subject.kind, subject.groups, subject.targets], ['alice', 'agent', ['dev', 'ops'], ['pg-*']]);

    const j = await cli(['tokens', 'create', '--user', 'bob', '--json']);
    const body = JSON.parse(j.stdout);
    assert.match(body.token, JWT);
    assert.equal(body.user, 'bob');
    assert.ok(body.id && body.expiresAt);
  });

  test('list shows records, never token text', async () => {
    const token = (await cli(['tokens', 'create', '--user', 'carol'])).stdout.trim();
    const table = await cli(['tokens', 'list']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+SUBJECT\s+KIND/);
    assert.match(table.stdout, /carol\s+user\s+-\s+\*\s+\S+ \S+\s+active/);
    const json = await cli(['tokens', 'list', '--json']);
    assert.ok(JSON.parse(json.stdout).some((t: { subject: string }) => t.subject === 'carol'));
    assert.ok(!table.stdout.includes(token) && !json.stdout.includes(token));
  });

  test('revoke by id and by token text', async () => {
    const byId = JSON.parse((await cli(['tokens', 'create', '--user', 'dave', '--json'])).stdout);
    const r1 = await cli(['tokens', 'revoke', byId.id]);
    assert.deepEqual([r1.code, r1.stdout], [0, `token ${byId.id} of dave revoked; 0 live session(s) ended\n`]);
    await assert.rejects(fx.tokens.verify(byId.token), { code: 'WARDEN_ERR_TOKEN_REVOKED' });

    const byText = JSON.parse((await cli(['tokens', 'create', '--user', 'erin', '--json'])).stdout);
    const r2 = await spawned(['tokens', 'revoke', byText.token]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout, `token ${byText.id} of erin revoked; 0 live session(s) ended\n`);
    await assert.rejects(fx.tokens.verify(byText.token), { code: 'WARDEN_ERR_TOKEN_REVOKED' });
    const list = JSON.parse((await cli(['tokens', 'list', '--json'])).stdout);
    assert.ok(list.find((t: { id: string }) => t.id === byText.id).revokedAt);
  });

  test('errors carry the API code', async () => {
    const missing = await cli(['tokens', 'revoke', 'tok_nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^warden: .*not found \(WARDEN_ERR_NOT_FOUND\)\n$/);
    assert.equal((await cli(['tokens', 'create'])).code, 2);
    const ttl = await cli(['tokens', 'create', '--user', 'x', '--ttl', 'forever']);
    assert.deepEqual([ttl.code, /invalid duration.*\(WARDEN_ERR_BAD_REQUEST\)/.test(ttl.stderr)], [1, true]);
    assert.equal((await cli(['tokens', 'create', '--user', 'x', '--kind', 'robot'])).code, 2);
  });
});

describe('sessions', () => {
  test('list on an empty store prints [] with --json (spawned)', async () => {
    const r = await spawned(['sessions', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.equal((await cli(['sessions', 'list'])).stdout, 'no sessions\n');
  });

  test('list as a table and JSON; show as a timeline and JSON', async () => {
    await fx.store.sessions.insert(sessionFixture('ses_a', { startedAt: '2030-01-01T00:00:00.000Z' }));
    await fx.store.sessions.insert(sessionFixture('ses_b', { startedAt: '2030-01-01T01:00:00.000Z', subject: 'bob' }));
    await fx.store.sessions.end('ses_a', '2030-01-01T00:00:05.000Z', 'client closed');
    await fx.store.sessions.appendEvents([
      { sessionId: 'ses_a', seq: 1, at: '2030-01-01T00:00:00.000Z', type: 'session.start', data: { clientAddress: '127.0.0.1:50000', database: 'app' } },
      { sessionId: 'ses_a', seq: 2, at: '2030-01-01T00:00:01.250Z', type: 'statement',
        data: { text: 'SELECT *\n  FROM t WHERE id = $1', params: ['42', null], durationMs: 3.5, rows: 1, tag: 'SELECT 1' } },
      { sessionId: 'ses_a', seq: 3, at: '2030-01-01T00:00:02.000Z', type: 'statement',
        data: { text: 'SELEC \u001b[31mboom', durationMs: 0.4, error: { code: '42601', message: 'syntax error' } } },
      { sessionId: 'ses_a', seq: 4, at: '2030-01-01T00:00:05.000Z', type: 'session.end', data: { reason: 'client closed' } },
    ]);

    const table = await cli(['sessions', 'list']);
    assert.equal(table.code, 0);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ID\s+SUBJECT\s+TARGET\s+DATABASE\s+CLIENT\s+STARTED\s+ENDED\s+END REASON$/);
    assert.match(lines[1], /^ses_b\s+bob\s+pg1\s+app\s+127\.0\.0\.1:50000\s+2030-01-01 01:00:00Z\s+active\s+-$/);
    assert.match(lines[2], /^ses_a\s+alice\s.*2030-01-01 00:00:05Z\s+client closed$/);

    const json = JSON.parse((await cli(['sessions', 'list', '--json', '--limit', '1'])).stdout);
    assert.deepEqual(json.map((s: { id: string }) => s.id), ['ses_b']);
    const active = JSON.parse((await cli(['sessions', 'list', '--json', '--active'])).stdout);
    assert.deepEqual(active.map((s: { id: string }) => s.id), ['ses_b']);
    assert.equal((await cli(['sessions', 'list', '--limit', 'lots'])).code, 2);

    const show = await spawned(['sessions', 'show', 'ses_a']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^session\s+ses_a\n/);
    assert.match(show.stdout, /ended\s+2030-01-01 00:00:05Z \(client closed\)/);
    assert.match(show.stdout, /\+0\.000s\s+session\.start\s+clientAddress=127\.0\.0\.1:50000\s+database=app/);
    assert.match(show.stdout, /\+1\.250s\s+statement\s+SELECT \* FROM t WHERE id = \$1\s+params=\['42', NULL\]\s+3\.50ms\s+rows=1/);
    assert.match(show.stdout, /\+2\.000s\s+statement\s+SELEC \\x1b\[31mboom.*error=42601: syntax error/);
    assert.ok(!show.stdout.includes('\u001b'), 'escape sequences from recordings never reach the terminal');
    assert.match(show.stdout, /\+5\.000s\s+session\.end\s+reason=client closed/);

    const showJson = JSON.parse((await cli(['sessions', 'show', 'ses_a', '--json'])).stdout);
    assert.equal(showJson.session.id, 'ses_a');
    assert.deepEqual(showJson.events.map((e: { seq: number }) => e.seq), [1, 2, 3, 4]);

    const missing = await cli(['sessions', 'show', 'ses_nope']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'warden: session ses_nope not found (WARDEN_ERR_NOT_FOUND)\n']);
  });
});

describe('connection and credentials', () => {
  test('a bad or unprivileged token fails with the API code', async () => {
    const bad = await cli(['targets', 'list'], { env: { WARDEN_TOKEN: 'garbage' } });
    assert.deepEqual([bad.code, bad.stderr], [1, 'warden: invalid Warden token (WARDEN_ERR_TOKEN_INVALID)\n']);
    const dev = (await cli(['tokens', 'create', '--user', 'dev1', '--groups', 'dev'])).stdout.trim();
    const forbidden = await spawned(['targets', 'list'], { env: { WARDEN_TOKEN: dev } });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /\(WARDEN_ERR_FORBIDDEN\)\n$/);
    const flag = await cli(['targets', 'list', '--token', 'garbage']);
    assert.match(flag.stderr, /WARDEN_ERR_TOKEN_INVALID/, '--token wins over WARDEN_TOKEN');
  });

  test('an unreachable server gets a helpful message (spawned)', async () => {
    const port = await closedPort();
    const r = await spawned(['targets', 'list'], { env: { WARDEN_URL: `http://127.0.0.1:${port}` } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^warden: cannot reach Warden at http://127\\.0\\.0\\.1:${port}: is it running\\?`));
  });

  test('without --token or WARDEN_TOKEN the admin.token file is used, else a clear error', async () => {
    const none = await cli(['targets', 'list'], { env: { WARDEN_TOKEN: undefined } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no Warden token/);

    const dir = await mkdtemp(join(tmpdir(), 'warden-cli-home-'));
    try {
      await mkdir(join(dir, '.warden'));
      await writeFile(join(dir, '.warden', 'admin.token'), `${fx.adminToken}\n`);
      const local = await cli(['targets', 'list', '--json'], { env: { WARDEN_TOKEN: undefined }, cwd: dir });
      assert.equal(local.code, 0, local.stderr);
      const viaEnv = await cli(['tokens', 'list', '--json'], { env: { WARDEN_TOKEN: undefined, WARDEN_DATA_DIR: join(dir, '.warden') } });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('--url overrides WARDEN_URL', async () => {
    const r = await cli(['sessions', 'list', '--json', '--url', url], { env: { WARDEN_URL: 'http://127.0.0.1:1' } });
    assert.equal(r.code, 0, r.stderr);
  });
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
