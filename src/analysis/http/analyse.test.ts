/**
 * The HTTP request analyser: classes by method, the match attributes (method, normalised path, decoded query names,
 * body), the JSON body's fields with duplicates, and fuzzing: it never throws, always gives one unit of known
 * classes, and a request it cannot read is exactly `unknown`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../../masking/test-random.js';
import { HTTP_CLASSES } from '../../protocols/http/definition.js';
import { analyseHttpRequest, type HttpRequestFacts, type HttpUnitDetail } from './analyse.js';
import { jsonFields, MAX_JSON_DEPTH } from './json-body.js';

function unit(text: string, facts: HttpRequestFacts = {}) {
  const analysis = analyseHttpRequest(text, facts);
  assert.equal(analysis.units.length, 1);
  return { ...analysis.units[0], parseError: analysis.parseError };
}

describe('analyseHttpRequest', () => {
  it('classes by method; a WebSocket upgrade is read and write; other methods unknown without a parse error', () => {
    for (const [method, cls] of [['GET', 'read'], ['HEAD', 'read'], ['OPTIONS', 'read'], ['POST', 'write'], ['PUT', 'write'],
      ['PATCH', 'write'], ['DELETE', 'destructive'], ['PROPFIND', 'unknown'], ['TRACE', 'unknown'], ['get', 'unknown']]) {
      const u = unit(`${method} /v1/x`);
      assert.deepEqual([u.classes, u.attributes.methods, u.parseError], [[cls], [method], undefined], method);
    }
    const ws = analyseHttpRequest('GET /ws/echo', { upgrade: 'websocket' });
    assert.deepEqual([ws.classes, ws.units[0].classes], [['read', 'write'], ['read', 'write']]);
  });

  it('judges the normalised path and refuses what the normaliser refuses', () => {
    assert.deepEqual(unit('GET /v1/./a//b/../invoices/%37?x=1').attributes.paths, ['/v1/a/invoices/7']);
    assert.deepEqual(unit('GET /').attributes.paths, ['/']);
    for (const text of ['GET /../x', 'GET /a%2Fb', 'GET /a%zz', 'GET', 'GET ', 'GET ?a', 'GET v1/x', '/v1 GET', 'G@T /x', '']) {
      const u = unit(text);
      assert.deepEqual([u.classes, u.attributes], [['unknown'], {}], text);
      assert.ok(u.parseError, text);
    }
  });

  it('query: decoded names, sorted and unique, also split at ;', () => {
    assert.deepEqual(unit('GET /x?b=1&a=2&b=3&%61%62=4&c+d=5&e&=6&&f=').attributes.query, ['a', 'ab', 'b', 'c d', 'e', 'f']);
    assert.deepEqual(unit('GET /x').attributes.query, []);
    assert.deepEqual(unit('GET /x?').attributes.query, []);
    assert.deepEqual(unit('GET /x?page=1;debug=1').attributes.query, ['debug', 'page']);
    assert.deepEqual(unit('GET /x?a;b=1').attributes.query, ['a', 'a;b', 'b']);
    assert.deepEqual(unit('GET /x?caf%C3%A9=1&q=a%20b%2F').attributes.query, ['café', 'q'], 'values are not judged');
    assert.ok(unit('GET /x?a%zz=1').parseError);
    assert.ok(unit('GET /x?%ff=1').parseError);
  });

  it('body: json fields in the detail, unread when not JSON or marked unread, none without', () => {
    const json = unit('POST /users', { body: '{"name":"x","role":"admin"}' });
    assert.deepEqual(json.attributes.body, ['json']);
    assert.deepEqual((json.detail as HttpUnitDetail & { body: 'json' }).fields.map((f) => [f.path.join('.'), f.value]),
      [['name', 'x'], ['role', 'admin']]);
    assert.deepEqual(unit('POST /users', { body: 'role=admin' }).attributes.body, ['unread']);
    assert.deepEqual(unit('POST /users', { bodyUnread: 'true' }).detail, { body: 'unread' });
    assert.deepEqual(unit('POST /users', { bodyUnread: 'true', body: '{}' }).detail, { body: 'unread' });
    const none = unit('POST /users');
    assert.deepEqual([none.attributes.body, none.detail], [undefined, { body: 'none' }]);
  });
});

describe('jsonFields', () => {
  const flat = (text: string) => jsonFields(text)?.map((f) => `${f.path.join('.')}=${JSON.stringify(f.value)}`);

  it('lists every member with its path, arrays transparent, duplicates kept in order', () => {
    assert.deepEqual(flat('{"a":1,"b":{"c":true,"d":[1,"x",{"e":null}]},"a":2}'),
      ['a=1', 'b={"container":"object"}', 'b.c=true', 'b.d={"container":"array"}', 'b.d=1', 'b.d="x"', 'b.d.e=null', 'a=2']);
    assert.deepEqual(flat('[{"role":"admin"},[{"role":"user"}]]'), ['role="admin"', 'role="user"']);
    assert.deepEqual(flat(' "x" '), []);
    assert.deepEqual(flat('{"\\u0072ole":"\\u0061dmin","a\\"b":-1.5e3}'), ['role="admin"', 'a"b=-1500']);
    assert.deepEqual(flat('{}'), []);
  });

  it('is exactly JSON: what JSON.parse refuses is not JSON, what it accepts is', () => {
    for (const text of ['', '{', '{"a":1,}', '[1,]', "{'a':1}", '{"a":01}', '{"a":.5}', '{"a":1}x', 'NaN', '{"a":"\u0001"}',
      '{"a":"\\x"}', '{"a" 1}', 'tru', '{"a":-}', '\ufeff{}', '{"a":1e}', '[1 2]', '{"a":1 "b":2}']) {
      assert.equal(jsonFields(text), undefined, JSON.stringify(text));
      assert.throws(() => JSON.parse(text), JSON.stringify(text));
    }
    for (const text of ['0', '-0', '1E+2', '[]', '[[]]', '"\\ud800"', '{"":{"":[]}}', ' \t\n\r{"a" : [ 1 , 2 ] } ']) {
      assert.ok(jsonFields(text) !== undefined, text);
      JSON.parse(text);
    }
  });

  it('a body nested deeper than the limit is not read', () => {
    assert.ok(jsonFields('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)) !== undefined);
    assert.equal(jsonFields('['.repeat(MAX_JSON_DEPTH + 2) + ']'.repeat(MAX_JSON_DEPTH + 2)), undefined);
    assert.equal(jsonFields('{"a":'.repeat(100_000)), undefined);
  });

  it('agrees with JSON.parse on random texts', () => {
    const random = prng(41);
    const tokens = ['{', '}', '[', ']', ':', ',', '"a"', '"role"', '"x\\"y"', '1', '-2.5e1', 'true', 'null', ' ', '"', '\\', '0', '01', 'nul'];
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      const n = 1 + Math.floor(random() * 12);
      for (let k = 0; k < n; k++) text += tokens[Math.floor(random() * tokens.length)];
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      assert.equal(jsonFields(text) !== undefined, valid, text);
    }
  });
});

describe('http analyser fuzz', () => {
  it('never throws; one unit of known classes; unread is exactly unknown', () => {
    const random = prng(14);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const tokens = ['/', '/', 'v1', 'invoices', '..', '.', '%2e', '%2F', '%5c', '%', '%zz', '%41', '%c3%a9', '%ff', '?', '&', '=', ';', '+',
      '#', ' ', '\\', '\0', '\n', 'é', '\ud800', '*', 'role'];
    const methods = ['GET', 'POST', 'DELETE', 'PATCH', 'PROPFIND', 'get', '', 'G T', 'X'.repeat(70)];
    const facts: HttpRequestFacts[] = [{}, { body: '{"role":"admin"}' }, { body: '{"a":' }, { bodyUnread: 'true' }, { upgrade: 'websocket' },
      { body: '['.repeat(1000) }];
    for (let i = 0; i < 20_000; i++) {
      let target = random() < 0.9 ? '/' : '';
      const n = 1 + Math.floor(random() * 12);
      for (let k = 0; k < n; k++) target += pick(tokens);
      const text = `${pick(methods)} ${target}`;
      let analysis;
      try {
        analysis = analyseHttpRequest(text, pick(facts));
      } catch (err) {
        assert.fail(`threw for ${JSON.stringify(text)}: ${String(err)}`);
      }
      assert.equal(analysis.units.length, 1);
      for (const cls of analysis.classes) assert.ok((HTTP_CLASSES as readonly string[]).includes(cls), cls);
      assert.deepEqual(analysis.classes, analysis.units[0].classes);
      if (analysis.parseError !== undefined) assert.deepEqual([analysis.classes, analysis.units[0].attributes], [['unknown'], {}]);
      else assert.ok(analysis.units[0].attributes.paths?.[0].startsWith('/'));
    }
  });
});
