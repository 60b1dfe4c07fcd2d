/**
 * `warden targets add|update|list|show --type http` through the real CLI against a real control API: the upstream
 * URL from `--url`, the credential from stdin only (basic needs `user:password`), static headers, a CA and a client
 * certificate from files; the secret is stored encrypted and never printed; refusals in words (auth without a
 * secret, flags of other protocols, moving a stored secret to another URL without giving it again).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHttpUpstream, type HttpUpstream } from '../../test/harness/http-upstream.js';
import { targetFieldContext } from '../control/routes/target-records.js';
import { POLICY_TEST_EXIT } from './policies.js';
import { parseHeaders } from './targets-http.js';
import { startCliApi, type CliApi } from './test-api.js';
import { runCaptured } from './test-io.js';

const SECRET = 'sk_live_0123456789abcdef';
let api: CliApi;
let upstream: HttpUpstream;
let files: string;

before(async () => {
  api = await startCliApi({ prefix: 'warden-cli-http-', users: {}, targets: [] });
  upstream = await startHttpUpstream();
  files = mkdtempSync(path.join(tmpdir(), 'warden-http-files-'));
  writeFileSync(path.join(files, 'ca.pem'), upstream.ca);
  writeFileSync(path.join(files, 'client.crt'), upstream.clientCert!.cert);
  writeFileSync(path.join(files, 'client.key'), upstream.clientCert!.key);
});
after(async () => {
  await upstream?.close();
  await api?.close();
  rmSync(files, { recursive: true, force: true });
});

function warden(args: string[], stdin?: string) {
  return runCaptured(args, { env: { WARDEN_URL: api.url, WARDEN_TOKEN: api.tokens.admin }, cwd: api.cwd, stdin });
}

async function stored(name: string) {
  const record = await api.fx.store.targets.get(name);
  assert.ok(record);
  return record as unknown as Record<string, unknown> & { secretsEnc?: Record<string, string> };
}

describe('warden targets add --type http', () => {
  it('stores a bearer secret from stdin, encrypted, and never prints it', async () => {
    const add = await warden(['targets', 'add', 'billing-api', '--type', 'http', '--url', 'https://billing.internal:8443/api',
      '--auth', 'bearer', '--secret-stdin', '--ca-file', path.join(files, 'ca.pem'), '--header', 'X-Tenant: acme',
      '--header', 'Accept:application/json', '--host-header', 'billing.example.com', '--label', 'env=prod'], `${SECRET}\n`);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'target billing-api added (https://billing.internal:8443/api, http, auth bearer, secret stored encrypted)\n');
    const record = await stored('billing-api');
    assert.deepEqual([record.url, record.auth, record.hostHeader, record.headers, record.caCert, record.clientCert],
      ['https://billing.internal:8443/api', 'bearer', 'billing.example.com', { 'X-Tenant': 'acme', Accept: 'application/json' }, upstream.ca, null]);
    assert.equal(api.fx.vault.decrypt(record.secretsEnc!.secret, targetFieldContext('billing-api', 'secret')), SECRET);
    assert.ok(!JSON.stringify(record).includes(SECRET));
    for (const args of [['targets', 'list'], ['targets', 'list', '-o', 'wide'], ['targets', 'list', '-o', 'json'], ['targets', 'show', 'billing-api'],
      ['targets', 'show', 'billing-api', '-o', 'yaml']]) {
      const out = await warden(args);
      assert.equal(out.code, 0, out.stderr);
      assert.ok(!out.stdout.includes(SECRET) && !out.stderr.includes(SECRET), args.join(' '));
      assert.ok(out.stdout.includes('https://billing.internal:8443/api'), args.join(' '));
    }
    const list = await warden(['targets', 'list']);
    assert.match(list.stdout, /billing-api\s+http\s+https:\/\/billing\.internal:8443\/api\s+-\s+-\s+-\s+bearer\s+env=prod/);
    const show = await warden(['targets', 'show', 'billing-api']);
    for (const line of ['auth      bearer', 'secret    set (encrypted)', 'ca        custom', 'host      billing.example.com', 'headers   X-Tenant, Accept']) {
      assert.ok(show.stdout.includes(line), `${line}\n${show.stdout}`);
    }
    const asJson = JSON.parse((await warden(['targets', 'show', 'billing-api', '-o', 'json'])).stdout) as Record<string, unknown>;
    assert.deepEqual([asJson.url, asJson.auth, asJson.hasSecret, asJson.secret], ['https://billing.internal:8443/api', 'bearer', true, undefined]);
  });

  it('basic reads user:password; header and query name where the secret goes; none needs no secret; mTLS from files', async () => {
    const basic = await warden(['targets', 'add', 'b1', '--type', 'http', '--url', 'https://h', '--auth', 'basic', '--secret-stdin'], 'svc:pa ss:word\n');
    assert.equal(basic.code, 0, basic.stderr);
    const record = await stored('b1');
    assert.equal(api.fx.vault.decrypt(record.secretsEnc!.secret, targetFieldContext('b1', 'secret')), 'svc:pa ss:word');
    for (const auth of ['header:X-Api-Key', 'query:api_key']) {
      const out = await warden(['targets', 'add', `t-${auth.split(':')[0]}`, '--type', 'http', '--url', 'http://h:8080', '--auth', auth, '--secret-stdin'], 'k');
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`auth ${auth}, secret stored encrypted`));
    }
    const none = await warden(['targets', 'add', 'open', '--type', 'http', '--url', 'http://h']);
    assert.deepEqual([none.code, none.stdout], [0, 'target open added (http://h, http, no credential)\n']);
    const mtls = await warden(['targets', 'add', 'mtls', '--type', 'http', '--url', upstream.url, '--client-cert', path.join(files, 'client.crt'),
      '--client-key', path.join(files, 'client.key')]);
    assert.equal(mtls.code, 0, mtls.stderr);
    assert.ok(mtls.stdout.includes('client certificate') && !mtls.stdout.includes('PRIVATE KEY'));
    assert.equal((await stored('mtls')).clientCert, upstream.clientCert!.cert);
  });

  it('refuses in words: no secret for an auth, a basic secret without a colon, bad flags, another protocol\'s flags', async () => {
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [['--auth', 'bearer'], undefined, /--auth bearer needs the credential: give --secret-stdin/],
      [['--auth', 'basic', '--secret-stdin'], 'no-colon', /--auth basic reads user:password from standard input, and it holds no ":"/],
      [['--auth', 'bearer', '--secret-stdin'], '  \n', /standard input was empty/],
      [['--secret-stdin'], 'x', /--secret-stdin needs --auth/],
      [['--auth', 'digest', '--secret-stdin'], 'x', /--auth must be none, bearer, basic, header:NAME or query:NAME/],
      [['--auth', 'header:Bad Name', '--secret-stdin'], 'x', /--auth must be/],
      [['--header', 'NoColon'], undefined, /--header must be 'Name: value'/],
      [['--header', 'Authorization: Bearer x'], undefined, /Authorization is set by Warden itself/],
      [['--client-cert', 'x.crt'], undefined, /--client-cert and --client-key go together/],
      [['--database', 'x'], undefined, /--database is not for http targets/],
      [['--token-stdin'], 'x', /--token-stdin is not for http targets/],
    ];
    for (const [flags, stdin, message] of cases) {
      const out = await warden(['targets', 'add', 'bad', '--type', 'http', '--url', 'https://h', ...flags], stdin);
      assert.equal(out.code, 2, `${flags.join(' ')}: ${out.stderr}`);
      assert.match(out.stderr, message, flags.join(' '));
    }
    const noUrl = await warden(['targets', 'add', 'bad', '--type', 'http']);
    assert.match(noUrl.stderr, /missing --url/);
    const pg = await warden(['targets', 'add', 'pg', '--type', 'postgres', '--host', 'h', '--port', '5432', '--database', 'd', '--user', 'u',
      '--auth', 'bearer']);
    assert.match(pg.stderr, /--auth is not for postgres targets/);
    assert.equal(await api.fx.store.targets.get('bad'), undefined);
  });

  it('reads --header values as given', () => {
    assert.deepEqual(parseHeaders(['A: b: c', 'X-Y:  z ', 'A: d']), { A: 'd', 'X-Y': 'z' });
  });
});

describe('warden targets update --type http', () => {
  before(async () => {
    const out = await warden(['targets', 'add', 'up', '--type', 'http', '--url', 'https://a.internal', '--auth', 'bearer', '--secret-stdin'], SECRET);
    assert.equal(out.code, 0, out.stderr);
  });

  it('refuses to move the stored secret to another URL, CA, Host or auth without it', async () => {
    for (const flags of [['--url', 'https://evil.example'], ['--ca-file', path.join(files, 'ca.pem')], ['--host-header', 'evil.example'],
      ['--auth', 'query:token']]) {
      const out = await warden(['targets', 'update', 'up', '--type', 'http', ...flags]);
      assert.equal(out.code, 1, `${flags.join(' ')}: ${out.stdout}`);
      assert.match(out.stderr, /would send its stored credential to another server: give it again \(--secret-stdin/, flags.join(' '));
    }
    assert.equal((await stored('up')).url, 'https://a.internal');
    const moved = await warden(['targets', 'update', 'up', '--type', 'http', '--url', 'https://b.internal', '--secret-stdin'], 'new-secret');
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, 'updated target up (https://b.internal, http, auth bearer, secret stored encrypted)\n');
    const record = await stored('up');
    assert.equal(api.fx.vault.decrypt(record.secretsEnc!.secret, targetFieldContext('up', 'secret')), 'new-secret');
  });

  it('changes headers and labels without the secret; removing the secret needs --auth none', async () => {
    const headers = await warden(['targets', 'update', 'up', '--type', 'http', '--header', 'X-A: 1', '--label', 'team=billing']);
    assert.equal(headers.code, 0, headers.stderr);
    assert.deepEqual((await stored('up')).headers, { 'X-A': '1' });
    const noSecret = await warden(['targets', 'update', 'up', '--type', 'http', '--no-secret']);
    assert.deepEqual([noSecret.code, /auth bearer needs a credential: give --secret-stdin instead of --no-secret, or --auth none/.test(noSecret.stderr)],
      [2, true], noSecret.stderr);
    const none = await warden(['targets', 'update', 'up', '--type', 'http', '--no-secret', '--auth', 'none', '--no-headers']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, 'updated target up (https://b.internal, http, no credential)\n');
    const record = await stored('up');
    assert.deepEqual([record.auth, record.secretsEnc?.secret, record.headers], ['none', undefined, {}]);
    const bearer = await warden(['targets', 'update', 'up', '--type', 'http', '--auth', 'bearer']);
    assert.match(bearer.stderr, /auth bearer needs a credential: give --secret-stdin/);
    const secretOnly = await warden(['targets', 'update', 'up', '--type', 'http', '--secret-stdin'], 'x');
    assert.match(secretOnly.stderr, /target uses auth none, which injects no secret/);
  });

  it('http flags need --type http (there --url is the upstream\'s); --api-url names the control API', async () => {
    const out = await warden(['targets', 'update', 'up', '--auth', 'none']);
    assert.deepEqual([out.code, /--auth: give --type http to change an http target/.test(out.stderr)], [2, true]);
    const viaFlag = await runCaptured(['targets', 'update', 'up', '--type', 'http', '--url', 'https://c.internal', '--api-url', api.url],
      { env: { WARDEN_URL: 'http://127.0.0.1:1', WARDEN_TOKEN: api.tokens.admin }, cwd: api.cwd });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal((await stored('up')).url, 'https://c.internal');
  });
});

describe('warden policy test with an http target', () => {
  it('explains a request, with --body judged like the request\'s JSON body', async () => {
    const policy = path.join(files, 'policy.yaml');
    writeFileSync(policy, ['kind: Policy', 'name: http-test', 'rules:', '  - name: no-admin', '    match: { jsonBody: { "**.role": admin } }',
      '    effect: deny', '  - name: writes', '    match: { classes: [write] }', '    effect: allow', ''].join('\n'));
    assert.equal((await warden(['apply', '-f', policy])).code, 0);
    const args = ['policy', 'test', '--user', 'bot', '--kind', 'agent', '--target', 'billing-api', 'POST /v1/users'];
    const denied = await warden([...args, '--body', '{"user":{"role":"admin"}}']);
    assert.equal(denied.code, POLICY_TEST_EXIT.deny, denied.stderr);
    assert.match(denied.stdout, /^deny {2}\(http-test\/no-admin\)/);
    assert.match(denied.stdout, /1\. write {2}request {2}methods=POST {2}paths=\/v1\/users {2}body=json {2}POST \/v1\/users/);
    const allowed = await warden([...args, '--body', '{"user":{"role":"viewer"}}']);
    assert.equal(allowed.code, 0, allowed.stdout);
  });
});

