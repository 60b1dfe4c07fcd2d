/**
 * Secret masking tests: every response shape (Secret, SecretList, mixed List, Table with objects and with metadata,
 * watch events), the last-applied annotation, write bodies (create, merge patch, JSON patch), the mask kubectl
 * decodes, and evasions (nesting, key order, duplicate keys, unicode escapes, key case, `__proto__`, bad input).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestInfo } from '../../analysis/kube/request-info.js';
import { prng } from '../../masking/test-random.js';
import { LAST_APPLIED, MASKED_BASE64, MASKED_TEXT, maskSecretJson, secretScopeFor, SecretWatchMasker, type SecretScope } from './secret-masking.js';

const PASSWORD = Buffer.from('hunter2-very-secret').toString('base64');
const secret = (name = 'db', extra: Record<string, unknown> = {}) => ({
  kind: 'Secret', apiVersion: 'v1', metadata: { name, namespace: 'prod' }, type: 'Opaque',
  data: { password: PASSWORD, user: Buffer.from('app').toString('base64'), empty: null }, ...extra,
});

function masked(input: unknown, scope: SecretScope = 'secrets'): any {
  const result = maskSecretJson(typeof input === 'string' ? input : JSON.stringify(input), scope);
  assert.ok(result.ok, result.ok ? '' : result.error);
  return JSON.parse(result.text);
}

/** No secret value survives anywhere in the output text. */
function assertClean(text: string): void {
  assert.ok(!text.includes(PASSWORD) && !text.includes('hunter2') && !text.includes('YXBw'), text);
}

describe('secret masking: shapes', () => {
  it('masks a Secret: data to base64 of the mask, stringData to the mask, nulls kept, length hidden', () => {
    const out = masked(secret('db', { stringData: { token: 'hunter2' } }));
    assert.deepEqual(out.data, { password: MASKED_BASE64, user: MASKED_BASE64, empty: null });
    assert.deepEqual(out.stringData, { token: MASKED_TEXT });
    assert.equal(Buffer.from(out.data.password, 'base64').toString(), MASKED_TEXT, 'base64 -d shows the mask');
    assert.equal(out.data.password.length, out.data.user.length, 'every value the same length');
    assert.deepEqual(out.metadata, { name: 'db', namespace: 'prod' });
  });

  it('masks a SecretList (items have no kind) in both scopes', () => {
    const list = { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'a' }, data: { k: PASSWORD } }] };
    for (const scope of ['secrets', 'any'] as const) assert.equal(masked(list, scope).items[0].data.k, MASKED_BASE64);
  });

  it('masks Secrets in a List of mixed items, leaving other kinds', () => {
    const list = { kind: 'List', items: [{ kind: 'ConfigMap', data: { k: 'visible' } }, secret(), { kind: 'List', items: [secret('b')] }] };
    const out = masked(list, 'any');
    assert.equal(out.items[0].data.k, 'visible');
    assert.equal(out.items[1].data.password, MASKED_BASE64);
    assert.equal(out.items[2].items[0].data.password, MASKED_BASE64);
  });

  it('masks a Table with includeObject=Object, and last-applied inside Metadata-only rows', () => {
    const table = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }],
      rows: [{ cells: ['db', 'Opaque', 2], object: secret() }] };
    assert.equal(masked(table, 'any').rows[0].object.data.password, MASKED_BASE64);
    const partial = { kind: 'Table', rows: [{ cells: ['db'], object: { kind: 'PartialObjectMetadata',
      metadata: { name: 'db', annotations: { [LAST_APPLIED]: JSON.stringify(secret()) } } } }] };
    const text = maskSecretJson(JSON.stringify(partial), 'secrets');
    assert.ok(text.ok);
    assertClean(text.text);
    assert.deepEqual(JSON.parse(text.text).rows[0].cells, ['db']);
  });

  it('masks the last-applied annotation (data inside), or replaces it when it is not JSON', () => {
    const applied = secret('db', { metadata: { name: 'db', annotations: { [LAST_APPLIED]: JSON.stringify(secret()), keep: 'x' } } });
    const out = masked(applied, 'any');
    assert.equal(JSON.parse(out.metadata.annotations[LAST_APPLIED]).data.password, MASKED_BASE64);
    assert.equal(out.metadata.annotations.keep, 'x');
    const broken = masked(secret('db', { metadata: { annotations: { [LAST_APPLIED]: '{"data": {"password": "' + PASSWORD } } }));
    assert.equal(broken.metadata.annotations[LAST_APPLIED], MASKED_TEXT);
  });

  it('masks watch events line by line, across chunk boundaries and multi-byte characters', () => {
    const events = [{ type: 'ADDED', object: secret('a') }, { type: 'BOOKMARK', object: { kind: 'Secret', metadata: { name: 'ü' } } },
      { type: 'MODIFIED', object: secret('b') }].map((event) => JSON.stringify(event) + '\n').join('');
    const bytes = Buffer.from(events);
    for (const cut of [1, 7, 100, bytes.indexOf(Buffer.from('ü')) + 1, bytes.length - 1]) {
      const masker = new SecretWatchMasker('secrets');
      const first = masker.push(bytes.subarray(0, cut));
      const second = masker.push(bytes.subarray(cut));
      const last = masker.end();
      assert.ok(first.ok && second.ok && last.ok);
      const text = first.text + second.text + last.text;
      assertClean(text);
      const lines = text.split('\n');
      assert.equal(lines.length, 4);
      assert.equal(JSON.parse(lines[2]).object.data.password, MASKED_BASE64);
      assert.equal(JSON.parse(lines[1]).object.metadata.name, 'ü');
    }
  });

  it('masks pretty-printed events spanning lines, braces inside strings included', () => {
    const events = [{ type: 'ADDED', object: secret('a{') }, { type: 'MODIFIED', object: secret('"}b\\') }];
    const text = events.map((event) => JSON.stringify(event, null, 2)).join('\n') + '\n';
    const masker = new SecretWatchMasker('any');
    let out = '';
    for (let i = 0; i < text.length; i += 5) {
      const part = masker.push(text.slice(i, i + 5));
      assert.ok(part.ok);
      out += part.text;
    }
    assert.ok(masker.end().ok);
    assertClean(out);
    assert.equal(out.split('\n').filter((line) => line.startsWith('{')).length, 2, 'each event one masked line');
  });

  it('fails a watch stream it cannot read, and stays failed', () => {
    const broken = new SecretWatchMasker('secrets');
    assert.ok(broken.push(`${JSON.stringify({ type: 'ADDED', object: secret() })}\n`).ok);
    assert.equal(broken.push('{"type":"ADDED","object":{"data":{"p":1,}}}\n').ok, false, 'an event that is not JSON');
    assert.equal(broken.push('{}\n').ok, false, 'stays failed');
    assert.equal(new SecretWatchMasker('secrets').push('{} x {}').ok, false, 'text between events');
    assert.equal(new SecretWatchMasker('secrets').push('}').ok, false);
    const short = new SecretWatchMasker('secrets', 10);
    assert.equal(short.push('{"type":"ADDED"').ok, false, 'an event longer than the limit');
    const open = new SecretWatchMasker('secrets');
    assert.ok(open.push(`{"type":"ADDED","object":{"kind":"Secret","data":{"p":"${PASSWORD}`).ok);
    assert.equal(open.end().ok, false, 'a stream ending inside an event');
    const cut = new SecretWatchMasker('secrets');
    assert.ok(cut.push(Buffer.from('{"a":"ü"}').subarray(0, 8)).ok);
    assert.equal(cut.end().ok, false, 'a stream ending inside a character');
  });
});

describe('secret masking: scope', () => {
  it('is secrets for every request on core secrets and for what did not parse, any otherwise', () => {
    const scope = (method: string, url: string) => {
      const parsed = parseRequestInfo(method, url);
      return secretScopeFor(parsed.ok ? parsed.info : undefined);
    };
    for (const url of ['/api/v1/namespaces/a/secrets', '/api/v1/secrets?watch=1', '/api/v1/namespaces/a/secrets/x/status',
      '/api/v1/watch/namespaces/a/secrets/x', '/api/v1/namespaces/a/../secrets']) assert.equal(scope('GET', url), 'secrets', url);
    assert.equal(scope('DELETE', '/api/v1/namespaces/a/secrets/x'), 'secrets');
    for (const url of ['/api/v1/namespaces/a/configmaps', '/apis/example.com/v1/secrets', '/version', '/api/v1/namespaces/secrets']) {
      assert.equal(scope('GET', url), 'any', url);
    }
  });
});

describe('secret masking: write bodies for recordings', () => {
  it('masks kubectl create secret bodies and merge patches', () => {
    assertClean(JSON.stringify(masked(secret())));
    const patch = masked({ data: { password: PASSWORD }, stringData: { other: 'hunter2' } });
    assert.deepEqual(patch, { data: { password: MASKED_BASE64 }, stringData: { other: MASKED_TEXT } });
  });

  it('masks JSON patch values written under /data and /stringData', () => {
    const ops = [
      { op: 'add', path: '/data/password', value: PASSWORD }, { op: 'replace', path: '/stringData', value: { a: 'hunter2' } },
      { op: 'add', path: '/DATA/x', value: PASSWORD }, { op: 'replace', path: '', value: secret() },
      { op: 'add', path: '/metadata/labels/app', value: 'web' }, { op: 'remove', path: '/data/old' },
      { op: 'test', path: '/data/password', value: PASSWORD },
      { op: 'add', path: `/metadata/annotations/${LAST_APPLIED.replace('/', '~1')}`, value: JSON.stringify(secret()) },
      { op: 'replace', path: '/metadata', value: { annotations: { [LAST_APPLIED]: JSON.stringify(secret()) } } },
      { op: 'add', path: 'data', value: PASSWORD },
    ];
    const out = masked(ops);
    assertClean(JSON.stringify(out));
    assert.deepEqual(out[0], { op: 'add', path: '/data/password', value: MASKED_BASE64 });
    assert.deepEqual(out[1].value, { a: MASKED_TEXT });
    assert.equal(out[4].value, 'web');
    assert.deepEqual(out[5], { op: 'remove', path: '/data/old' });
  });
});

describe('secret masking: evasions', () => {
  it('a duplicated data key cannot smuggle a value: the output holds the key once, masked', () => {
    const text = `{"kind":"Secret","data":{"password":"${PASSWORD}"},"data":{"password":"${PASSWORD}","x":"${PASSWORD}"}}`;
    const result = maskSecretJson(text, 'any');
    assert.ok(result.ok);
    assertClean(result.text);
    assert.equal(result.text.match(/"data"/g)?.length, 1);
    // A duplicate `kind` (last wins, as in Go) still leaves a Secret to the secrets scope; JSON.parse saw the last.
    const kinds = `{"kind":"ConfigMap","data":{"p":"${PASSWORD}"},"kind":"Secret"}`;
    assertClean((maskSecretJson(kinds, 'any') as { text: string }).text);
    assertClean((maskSecretJson(`{"kind":"Secret","kind":"ConfigMap","data":{"p":"${PASSWORD}"}}`, 'secrets') as { text: string }).text);
  });

  it('unicode escapes in key names and values, other key order and case are masked alike', () => {
    for (const text of [
      `{"\\u0064ata":{"p":"${PASSWORD}"},"kind":"Secret"}`, `{"data":{"p":"${PASSWORD}"},"kind":"\\u0053ecret"}`,
      `{"Data":{"p":"${PASSWORD}"},"kind":"secret"}`, `{"metadata":{},"stringDATA":{"p":"hunter2"},"apiVersion":"v1","kind":"Secret"}`,
    ]) {
      const result = maskSecretJson(text, 'any');
      assert.ok(result.ok && result.masked, text);
      assertClean(result.text);
    }
  });

  it('Secrets nested deep in Lists and watch events, and __proto__ keys, are masked', () => {
    const nested = { kind: 'List', items: [{ kind: 'List', items: [{ type: 'ADDED', object: secret() }] }] };
    assertClean(JSON.stringify(masked(nested, 'any')));
    const proto = `{"kind":"Secret","data":{"__proto__":"${PASSWORD}","p":"${PASSWORD}"}}`;
    const result = maskSecretJson(proto, 'any');
    assert.ok(result.ok);
    assertClean(result.text);
    assert.deepEqual(Object.keys(JSON.parse(result.text).data), ['__proto__', 'p']);
  });

  it('fails closed on input it cannot read: not JSON, not UTF-8, nested too deep', () => {
    for (const input of ['{"kind":"Secret","data":{"p":"' + PASSWORD, '', 'null garbage', '\ufeff{}']) {
      assert.equal(maskSecretJson(input, 'secrets').ok, false, input);
    }
    assert.equal(maskSecretJson(Uint8Array.from([0x7b, 0xff, 0x7d]), 'secrets').ok, false);
    assert.equal(maskSecretJson('['.repeat(5000) + ']'.repeat(5000), 'secrets').ok, false);
  });

  it('returns the input unchanged, byte for byte, when nothing needs masking', () => {
    const text = '{"kind":"Pod","metadata":{"name":"web"},"spec":{"n":1.50,"big":12345678901234567890}}';
    assert.deepEqual(maskSecretJson(text, 'any'), { ok: true, text, masked: false });
    const status = '{"kind":"Status","status":"Failure","code":404}';
    assert.deepEqual(maskSecretJson(status, 'secrets'), { ok: true, text: status, masked: false });
  });
});

describe('secret masking: generated documents', () => {
  it('no Secret value survives anywhere a Secret can stand, and the masker never throws', () => {
    const random = prng(99);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const wrap = (inner: unknown): unknown => pick([
      () => ({ kind: 'List', items: [{ kind: 'ConfigMap', data: { a: 'b' } }, inner] }),
      () => ({ kind: 'Table', rows: [{ cells: ['x'], object: inner }] }),
      () => ({ type: pick(['ADDED', 'MODIFIED', 'DELETED']), object: inner }),
      () => ({ kind: 'SecretList', items: [{ metadata: { name: 'n' }, data: { k: PASSWORD } }, inner] }),
      () => inner,
    ])();
    for (let i = 0; i < 2_000; i++) {
      const extra: Record<string, unknown> = random() < 0.5 ? { stringData: { s: 'hunter2' } } : {};
      if (random() < 0.3) extra.metadata = { name: 'x', annotations: { [LAST_APPLIED]: JSON.stringify(secret()) } };
      let doc: unknown = secret('s', extra);
      for (let depth = Math.floor(random() * 4); depth > 0; depth--) doc = wrap(doc);
      let text = JSON.stringify(doc);
      if (random() < 0.3) text = text.replaceAll('"data"', '"\\u0064ata"');
      for (const scope of ['any', 'secrets'] as const) {
        const result = maskSecretJson(text, scope);
        assert.ok(result.ok, text);
        assertClean(result.text);
      }
      const cut = text.slice(0, Math.floor(random() * text.length));
      assert.equal(maskSecretJson(cut, 'secrets').ok, false, 'a cut document is refused');
    }
  });
});
