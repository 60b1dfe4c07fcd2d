/**
 * The nginx harness with the real nginx: the upstream shape serves its JSON only with the credential (header and
 * bearer kinds), and the proxy shape relays to the test HTTP upstream (plain and HTTPS).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startHttpUpstream } from './http-upstream.js';
import { startNginxProxy, startNginxUpstream } from './nginx.js';

const execFileAsync = promisify(execFile);

async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await execFileAsync('curl', ['-s', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

test('nginx upstream serves its JSON only with the X-Api-Key credential', async () => {
  const nginx = await startNginxUpstream({ auth: { kind: 'header', name: 'X-Api-Key', secret: 'k-123' } });
  try {
    const ok = await curl(['-H', 'X-Api-Key: k-123', `${nginx.url}/customers.json`]);
    assert.equal(ok.status, 200, nginx.log());
    assert.equal(JSON.parse(ok.body).customers[0].email, 'ada@example.com');
    const head = await fetch(`${nginx.url}/customers.json`, { headers: { 'x-api-key': 'k-123' } });
    assert.equal(head.headers.get('content-type'), 'application/json');
    await head.arrayBuffer();
    assert.equal((await curl([`${nginx.url}/customers.json`])).status, 401);
    assert.equal((await curl(['-H', 'X-Api-Key: k-124', `${nginx.url}/customers.json`])).status, 401);
    assert.equal((await curl(['-H', 'X-Api-Key: k-123', `${nginx.url}/nothing.json`])).status, 404);
  } finally {
    await nginx.stop();
  }
  assert.equal(fs.existsSync(nginx.prefix), false, 'stop removes the temp dir');
});

test('nginx upstream with a bearer credential and custom files', async () => {
  const nginx = await startNginxUpstream({ auth: { kind: 'bearer', secret: 'tok' }, files: { '/v1/items.json': '[1,2]' } });
  try {
    assert.equal((await curl(['-H', 'Authorization: Bearer tok', `${nginx.url}/v1/items.json`])).body, '[1,2]');
    assert.equal((await curl(['-H', 'Authorization: Bearer nope', `${nginx.url}/v1/items.json`])).status, 401);
  } finally {
    await nginx.stop();
  }
});

test('nginx proxy relays to an HTTP and an HTTPS upstream (path, query, Host; the upstream still checks its credential)', async () => {
  for (const tls of [false, true]) {
    const up = await startHttpUpstream({ tls, auth: { kind: 'header', name: 'X-Api-Key', secret: 's3' } });
    const proxy = await startNginxProxy(up.url);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await curl(['-H', 'X-Api-Key: s3', `${proxy.url}/echo/p?i=${i}`]);
        assert.equal(r.status, 200, proxy.log());
        const echo = JSON.parse(r.body);
        assert.equal(echo.path, '/echo/p');
        assert.equal(echo.query, `i=${i}`);
        assert.equal(echo.headers.host, new URL(up.url).host);
      }
      assert.equal((await curl([`${proxy.url}/json/customers`])).status, 401, 'the upstream still checks');
      assert.equal(up.received.length, 4);
    } finally {
      await proxy.stop();
      await up.close();
    }
  }
});
