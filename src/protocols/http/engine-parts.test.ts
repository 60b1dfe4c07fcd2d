/**
 * The HTTP engine's pure parts: routing (prefix and host name, path tricks), the caller's token (Bearer, Basic,
 * Proxy-Authorization, cookie, conflicts), the headers and query sent upstream, the credential scrubber split at every
 * byte, and an upstream that hangs (504) or refuses (502) through the real undici pool.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import type { HttpTarget } from '../../session/types.js';
import { callerToken, cookieWithoutWarden } from './caller-auth.js';
import { statusOf } from './errors.js';
import { methodOverrideRefusal, queryWithout, upstreamHeaders, upstreamQuery } from './request-headers.js';
import { judgedJson } from './request-body.js';
import { httpProtocol } from './definition.js';
import { callerHeaders } from './response-headers.js';
import { hostTarget, routeRequest } from './routing.js';
import { ScrubStream, secretForms } from './secret-scrub.js';
import { HttpUpstreamPools } from './upstream.js';

function target(fields: Partial<HttpTarget> = {}): HttpTarget {
  return { name: 'api', type: 'http', labels: {}, url: 'http://127.0.0.1:1', caCert: null, auth: 'bearer', hostHeader: null,
    headers: {}, clientCert: null, ...fields } as HttpTarget;
}

describe('routing', () => {
  test('path prefix and host name, port ignored, case-insensitive', () => {
    assert.deepEqual(routeRequest('/t/api/v1//x/./y?a=1', 'warden:8081', 'gw.test'),
      { target: 'api', via: 'prefix', path: '/v1/x/y', query: 'a=1' });
    assert.deepEqual(routeRequest('/t/api', undefined, null), { target: 'api', via: 'prefix', path: '/', query: '' });
    assert.deepEqual(routeRequest('/v1', 'API.GW.Test:443', 'gw.test'), { target: 'api', via: 'host', path: '/v1', query: '' });
    assert.equal(hostTarget('gw.test', 'gw.test'), undefined);
    assert.equal(hostTarget('api.other.test', 'gw.test'), undefined);
  });

  test('refused: absolute form, escaped target names, climbing and encoded slashes', () => {
    for (const url of ['http://x/t/api/', '*', '/t/%61pi/x', '/t/a/../b/x', '/t/api/../../x', '/t/api/a%2Fb', '/t/api/a%5cb',
      '/t/api/a\\b', '/t/api/%zz', '/t/api/x?a#b']) {
      assert.throws(() => routeRequest(url, undefined, null), (e: Error & { code?: string }) => e.code === 'WARDEN_ERR_BAD_REQUEST', url);
    }
    assert.throws(() => routeRequest('/other', undefined, null), (e: Error & { code?: string }) => e.code === 'WARDEN_ERR_NOT_FOUND');
  });
});

describe('caller authentication', () => {
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const token = (headers: Record<string, string>) => callerToken(headers, Object.entries(headers).flat());

  test('Bearer, Basic (any user name), Proxy-Authorization and the portal cookie', () => {
    assert.equal(token({ authorization: 'Bearer abc.def' }), 'abc.def');
    assert.equal(token({ authorization: basic('whoever', 'abc.def') }), 'abc.def');
    assert.equal(token({ 'proxy-authorization': 'bearer abc.def' }), 'abc.def');
    assert.equal(token({ cookie: 'x=1; warden_token=abc.def' }), 'abc.def');
    assert.equal(token({ authorization: 'Bearer abc.def', cookie: 'warden_token=abc.def' }), 'abc.def');
    assert.equal(token({}), undefined);
  });

  test('another scheme, two tokens or a repeated header are refused', () => {
    assert.throws(() => token({ authorization: 'Digest x' }), { code: 'WARDEN_ERR_UNAUTHENTICATED' });
    assert.throws(() => token({ authorization: 'Bearer a', cookie: 'warden_token=b' }), { code: 'WARDEN_ERR_BAD_REQUEST' });
    assert.throws(() => callerToken({ authorization: 'Bearer a' }, ['Authorization', 'Bearer a', 'authorization', 'Bearer b']),
      { code: 'WARDEN_ERR_BAD_REQUEST' });
  });

  test('the Warden cookie is removed, the caller\'s other cookies kept', () => {
    assert.equal(cookieWithoutWarden('a=1; warden_token=t; b=2'), 'a=1; b=2');
    assert.equal(cookieWithoutWarden('warden_token=t'), undefined);
  });
});

describe('headers and query upstream', () => {
  const facts = { clientAddress: '10.0.0.9', proto: 'https' as const };

  test('credentials, hop-by-hop, forwarding claims and Host are dropped; credential and static headers injected', () => {
    const raw = ['Host', 'warden', 'Authorization', 'Bearer t', 'Proxy-Authorization', 'Bearer t', 'Connection', 'x-secret-hop',
      'X-Secret-Hop', '1', 'Keep-Alive', '5', 'TE', 'trailers', 'Forwarded', 'for=1.2.3.4', 'X-Forwarded-For', '1.2.3.4',
      'X-Api-Key', 'caller', 'Accept', 'a', 'Accept', 'b', 'Cookie', 'warden_token=t; k=v', 'Accept-Encoding', 'gzip'];
    const out = upstreamHeaders(raw, target({ auth: 'header:X-Api-Key', headers: { 'X-Static': 's' }, hostHeader: 'api.internal' }), 'S3', facts);
    // With a credential injected, the answer must come uncompressed so the scrubber can see an echoed credential.
    assert.deepEqual(out, { accept: ['a', 'b'], 'accept-encoding': 'identity', cookie: 'k=v', 'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'https', 'x-static': 's', 'x-api-key': 'S3', host: 'api.internal' });
    assert.equal(upstreamHeaders(raw, target({ auth: 'none' }), null, facts)['accept-encoding'], 'gzip', 'no credential: as the caller asked');
    assert.equal(upstreamHeaders([], target({ auth: 'basic' }), 'u:p', facts).authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(upstreamHeaders([], target(), 'S3', { ...facts, host: 'api.gw' })['x-forwarded-host'], 'api.gw');
  });

  test('a caller parameter named like the query credential is removed, the credential appended', () => {
    assert.equal(queryWithout('api_key=evil&a=1&api%5Fkey=x&b', 'api_key'), 'a=1&b');
    assert.equal(queryWithout('x=1;api_key=evil&y=2', 'api_key'), 'x=1;y=2', 'a ; separator smuggles no credential');
    assert.equal(queryWithout('x=1;y=2&api_key=e;', 'api_key'), 'x=1;y=2');
    assert.equal(queryWithout('a=1&&b=2', 'api_key'), 'a=1&&b=2', 'raw otherwise');
    assert.equal(upstreamQuery('a=1', 'query:api_key', 'k&y'), 'a=1&api_key=k%26y');
    assert.equal(upstreamQuery('', 'bearer', 'k'), '');
  });

  test('answers: hop-by-hop and the upstream\'s challenge dropped, the credential scrubbed from every header', () => {
    const forms = secretForms('bearer', 'S3cr3t');
    assert.deepEqual(callerHeaders({ connection: 'x-h', 'x-h': '1', 'transfer-encoding': 'chunked', 'www-authenticate': 'Basic',
      location: '/?k=S3cr3t', 'set-cookie': ['a=S3cr3t', 'b=1'], 'x-warden-request-id': 'fake' }, forms),
    { location: '/?k=******', 'set-cookie': ['a=******', 'b=1'] });
  });
});

describe('request bodies and approval windows', () => {
  test('a body is judged as JSON only when declared JSON or undeclared', () => {
    const body = { head: Buffer.from('{"a":"&role=admin&x=","b":1}'), complete: true };
    assert.equal(judgedJson(body, 'application/x-www-form-urlencoded'), undefined, 'a form is read as a form upstream');
    assert.equal(judgedJson(body, 'text/plain'), undefined);
    assert.equal(judgedJson(body, 'application/json; charset=utf-8'), body.head.toString());
    assert.equal(judgedJson(body, 'application/merge-patch+json'), body.head.toString());
    assert.equal(judgedJson(body), body.head.toString());
  });

  test('an approval window covers the same body only under the same Content-Type', () => {
    const state = httpProtocol.newState!();
    const key = (contentType: string) => state.keyAlso!({ protocol: 'http', kind: 'request', text: 'POST /x',
      attributes: { body: '{"a":1}', contentType } });
    assert.deepEqual(key('application/json'), key('application/json'));
    assert.notDeepEqual(key('application/json'), key('application/vnd.x+json'));
  });

  test('the credential\'s forms include how a JSON string holds it', () => {
    const forms = secretForms('bearer', 'ab/cd"e').map(String);
    assert.ok(forms.includes('ab\\/cd\\"e') && forms.includes('ab/cd\\"e'), forms.join(' | '));
  });
});

describe('method overrides', () => {
  test('a header or _method parameter asking for another method is refused; ordinary requests pass', () => {
    for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override']) {
      assert.match(methodOverrideRefusal({ [name]: 'DELETE' }, '') ?? '', new RegExp(name));
    }
    assert.match(methodOverrideRefusal({}, 'a=1&_method=DELETE') ?? '', /_method/);
    assert.match(methodOverrideRefusal({}, 'a=1;_METHOD=delete') ?? '', /_method/);
    assert.match(methodOverrideRefusal({}, '%5Fmethod=DELETE') ?? '', /_method/);
    assert.equal(methodOverrideRefusal({ 'content-type': 'application/json' }, 'method=x&a_method=1'), undefined);
  });
});

describe('the credential scrubber', () => {
  test('every form is overwritten wherever the chunks split', async () => {
    const secret = 'user:pa ss/w+rd';
    const forms = secretForms('basic', secret);
    const body = `a ${secret} b ${Buffer.from(secret).toString('base64')} c ${encodeURIComponent(secret)} d pa ss/w+rd e`;
    const expected = body.replace(secret, '*'.repeat(secret.length)).replace(Buffer.from(secret).toString('base64'), '*'.repeat(20))
      .replace(encodeURIComponent(secret), '*'.repeat(encodeURIComponent(secret).length)).replace('pa ss/w+rd', '*'.repeat(10));
    for (let cut = 0; cut <= body.length; cut++) {
      const out = await text(Readable.from([Buffer.from(body.slice(0, cut)), Buffer.from(body.slice(cut))]).pipe(new ScrubStream(forms)));
      assert.equal(out, expected, `split at ${cut}`);
    }
  });

  test('a chunk ending in what cannot begin the credential is passed at once', async () => {
    const scrub = new ScrubStream(secretForms('bearer', 'secret'));
    const first = new Promise<Buffer>((resolve) => scrub.once('data', resolve));
    scrub.write(Buffer.from('data: 1\n\n'));
    assert.equal((await first).toString(), 'data: 1\n\n');
    scrub.end();
  });
});

describe('upstream failures', () => {
  test('no answer headers in time: 504; a refused connection: 502', async () => {
    const server = http.createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const pools = new HttpUpstreamPools({ headersMs: 200 });
    try {
      const hanging = target({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      await assert.rejects(pools.request(hanging, {}, { method: 'GET', path: '/' }), (e: Parameters<typeof statusOf>[0]) => statusOf(e) === 504);
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      await assert.rejects(pools.request(target({ name: 'gone', url: `http://127.0.0.1:${port}` }), {}, { method: 'GET', path: '/' }),
        (e: Parameters<typeof statusOf>[0]) => statusOf(e) === 502 && /refused the connection/.test(e.message));
    } finally {
      await pools.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
