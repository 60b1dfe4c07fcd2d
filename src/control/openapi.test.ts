/**
 * The OpenAPI document and its Swagger UI: every operation documents a 2xx response with a schema (a 204 documents
 * that it has no body; the browser sign-in steps, which only ever redirect, document their 3xx instead), and `/docs` serves Swagger UI without a token while every API route stays protected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
before(async () => { fx = await createControlFixture(); });
after(async () => { await fx?.close(); });

type Operation = { responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }> };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('the OpenAPI document', () => {
  test('every operation has a 2xx response with a schema', async () => {
    const res = await fx.app.inject({ method: 'GET', url: '/api/openapi.json' });
    const doc = res.json() as { paths: Record<string, Record<string, Operation>> };
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m] !== undefined).map((m) => ({ name: `${m.toUpperCase()} ${path}`, op: item[m] })));
    assert.ok(operations.length > 40, `only ${operations.length} operations`);
    const missing: string[] = [];
    for (const { name, op } of operations) {
      const success = Object.entries(op.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      const described = success.some(([status, response]) => status === '204' ? response.content === undefined
        : Object.values(response.content ?? {}).some((c) => c.schema !== undefined));
      const redirects = Object.entries(op.responses ?? {}).filter(([status]) => /^3\d\d$/.test(status));
      const onlyRedirects = success.length === 0 && redirects.length > 0 && redirects.every(([, r]) => (r.description ?? '').length > 0)
        && /^(GET|POST) \/auth\//.test(name);
      if (!described && !onlyRedirects) missing.push(name);
    }
    assert.deepEqual(missing, [], 'operations without a documented 2xx response');
  });

  test('the new target routes are documented', async () => {
    const doc = (await fx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    assert.ok(doc.paths['/api/targets/{name}'].patch);
    assert.ok(doc.paths['/api/targets/{name}/test'].post);
  });
});

describe('Swagger UI at /docs', () => {
  test('serves the UI and its assets without a token, with a Content-Security-Policy', async () => {
    const page = await fx.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200, page.body);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /swagger-ui/);
    assert.ok(page.headers['content-security-policy'], 'CSP header');
    const redirect = await fx.app.inject({ method: 'GET', url: '/docs' });
    assert.ok([200, 302].includes(redirect.statusCode), String(redirect.statusCode));
    const initializer = await fx.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    assert.equal(initializer.statusCode, 200);
    const spec = await fx.app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(spec.statusCode, 200);
    assert.ok((spec.json() as { paths: Record<string, unknown> }).paths['/api/targets']);
  });

  test('the API itself still needs a token', async () => {
    for (const url of ['/api/targets', '/api/tokens', '/api/sessions']) {
      const res = await fx.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 401, url);
    }
  });
});
