/**
 * The HTTP path normaliser: every spelling of a path has one normal form, dot segments never climb above the root,
 * and the spellings that servers read differently are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../../masking/test-random.js';
import { MAX_HTTP_PATH, normaliseHttpPath } from './path.js';

function path(raw: string): string {
  const result = normaliseHttpPath(raw);
  assert.ok('path' in result, `${JSON.stringify(raw)} refused: ${'refusal' in result ? result.refusal : ''}`);
  return result.path;
}

function refusal(raw: string): string {
  const result = normaliseHttpPath(raw);
  assert.ok('refusal' in result, `${JSON.stringify(raw)} was not refused: ${'path' in result ? result.path : ''}`);
  return result.refusal;
}

describe('normaliseHttpPath', () => {
  it('keeps plain paths and gives the root for an empty path', () => {
    assert.equal(path('/v1/invoices/7'), '/v1/invoices/7');
    assert.equal(path('/'), '/');
    assert.equal(path(''), '/');
    assert.equal(path("/a-b_c.d~e/!$&'()*+,;=:@"), "/a-b_c.d~e/!$&'()*+,;=:@");
  });

  it('collapses // and keeps a trailing slash', () => {
    assert.equal(path('//v1///invoices//'), '/v1/invoices/');
    assert.equal(path('/v1/invoices/'), '/v1/invoices/');
    assert.equal(path('//'), '/');
    assert.equal(path('///a'), '/a');
  });

  it('resolves . and .. segments like RFC 3986', () => {
    assert.equal(path('/a/./b'), '/a/b');
    assert.equal(path('/./a'), '/a');
    assert.equal(path('/a/.'), '/a/');
    assert.equal(path('/a/b/..'), '/a/');
    assert.equal(path('/a/b/../c'), '/a/c');
    assert.equal(path('/a/../b'), '/b');
    assert.equal(path('/a/..'), '/');
    assert.equal(path('/a/b/../../c/./d/'), '/c/d/');
    assert.equal(path('/...'), '/...', 'three dots is a name');
    assert.equal(path('/.a/..b'), '/.a/..b');
  });

  it('resolves encoded dot segments, so %2e%2e is ..', () => {
    assert.equal(path('/a/%2e%2e/b'), '/b');
    assert.equal(path('/a/%2E%2E/b'), '/b');
    assert.equal(path('/a/.%2e/b'), '/b');
    assert.equal(path('/a/%2e/b'), '/a/b');
  });

  it('refuses .. above the root in every spelling', () => {
    for (const raw of ['/..', '/../b', '/a/../../b', '/%2e%2e/b', '/%2E%2e', '/./../x', '//../x', '/a/b/../../..']) {
      assert.match(refusal(raw), /above its root/, raw);
    }
  });

  it('refuses encoded slashes and backslashes, raw backslashes', () => {
    for (const raw of ['/a%2Fb', '/a%2fb', '/..%2F..%2Fb', '/a%5Cb', '/a%5cb']) assert.match(refusal(raw), /encoded "\/" or "\\"/, raw);
    assert.match(refusal('/a\\b'), /"\\"/);
    assert.match(refusal('/..\\b'), /"\\"/);
  });

  it('refuses bad escapes', () => {
    for (const raw of ['/a%', '/a%4', '/a%zz', '/a%g0', '/%%41', '/a%2']) assert.match(refusal(raw), /bad percent-escape/, raw);
  });

  it('refuses control characters, raw or encoded', () => {
    for (const raw of ['/a\0b', '/a\nb', '/a\rb', '/a\tb', '/a\x7fb', '/a\x1bb']) assert.match(refusal(raw), /control character/, JSON.stringify(raw));
    for (const raw of ['/a%00b', '/a%0Ab', '/a%0d', '/a%09', '/a%7F', '/a%1f']) assert.match(refusal(raw), /encoded control/, raw);
  });

  it('decodes escapes of unreserved characters only, and upper-cases the hex of the others', () => {
    assert.equal(path('/%41%62%2D%5F%7E%30'), '/Ab-_~0');
    assert.equal(path('/a%20b'), '/a%20b');
    assert.equal(path('/a%3fb%23c%25d'), '/a%3Fb%23c%25d');
    assert.equal(path('/a%3Bb'), '/a%3Bb', 'an encoded ; stays encoded: it is not a path parameter');
    assert.equal(path('/a%40b'), '/a%40b');
  });

  it('keeps non-ASCII encoded, and encodes raw non-ASCII and other non-path characters as UTF-8', () => {
    assert.equal(path('/caf%c3%a9'), '/caf%C3%A9');
    assert.equal(path('/café'), '/caf%C3%A9');
    assert.equal(path('/日本'), '/%E6%97%A5%E6%9C%AC');
    assert.equal(path('/😀'), '/%F0%9F%98%80');
    assert.equal(path('/a b"<>`{}|^'), '/a%20b%22%3C%3E%60%7B%7D%7C%5E');
    assert.equal(path('/a#b'), '/a%23b');
    assert.equal(path(path('/café/%c3%a9 x')), path('/café/%c3%a9 x'), 'normal form is stable');
  });

  it('refuses escapes that are not UTF-8 (overlong dots) and lone surrogates', () => {
    for (const raw of ['/%C0%AE%C0%AE/x', '/a%ff', '/a%C3', '/a%C3x', '/a%80']) assert.match(refusal(raw), /not UTF-8/, raw);
    assert.match(refusal('/a\ud800b'), /surrogate/);
  });

  it('refuses dot segments with servlet path parameters', () => {
    for (const raw of ['/a/..;/b', '/a/..;jsessionid=1/b', '/.;x/a', '/a/%2e%2e;/b']) assert.match(refusal(raw), /";" parameter/, raw);
    assert.equal(path('/a;v=1/b'), '/a;v=1/b');
    assert.equal(path('/...;x'), '/...;x');
  });

  it('refuses a path not starting with / and one too long', () => {
    assert.match(refusal('a/b'), /does not start/);
    assert.match(refusal('/' + 'a'.repeat(MAX_HTTP_PATH)), /longer/);
    assert.equal(path('/' + 'a'.repeat(MAX_HTTP_PATH - 1)).length, MAX_HTTP_PATH);
  });

  it('never throws, and a normal form is its own normal form without dot or empty segments', () => {
    const random = prng(14);
    const tokens = ['/', '/', 'a', 'v1', '.', '..', '%2e', '%2E%2e', '%2F', '%5c', '%', '%zz', '%41', '%c3%a9', '%C3', '%ff', '\\', '\0',
      ';', ' ', 'é', '😀', '\ud800', '?', '#', '%00', '~', '*'];
    for (let i = 0; i < 20_000; i++) {
      let raw = random() < 0.9 ? '/' : '';
      const n = 1 + Math.floor(random() * 10);
      for (let k = 0; k < n; k++) raw += tokens[Math.floor(random() * tokens.length)];
      const result = normaliseHttpPath(raw);
      if ('refusal' in result) continue;
      assert.ok(result.path.startsWith('/'), raw);
      assert.deepEqual(normaliseHttpPath(result.path), result, JSON.stringify(raw));
      const segments = result.path.slice(1).split('/');
      segments.forEach((s, k) => {
        assert.ok(s !== '.' && s !== '..', JSON.stringify(raw));
        assert.ok(s !== '' || k === segments.length - 1, JSON.stringify(raw));
      });
      assert.ok(/^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/.test(result.path), JSON.stringify(raw));
    }
  });
});
