/**
 * The control API's transport (issue 9 item 12) over real sockets: HTTPS with Warden's certificate, X-Forwarded-Proto
 * believed only from trusted proxies (it decides the cookies' Secure flag), and callers that trickle a request body
 * to a public route cut off by the request timeout instead of holding a connection for minutes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOrCreateTls, type TlsMaterial } from '../server/tls.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let dir: string;
let tls: TlsMaterial;
const fixtures: ControlFixture[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-transport-'));
  tls = await loadOrCreateTls(dir);
});
after(async () => {
  for (const fx of fixtures) await fx.close();
  await rm(dir, { recursive: true, force: true });
});

async function started(options: Parameters<typeof createControlFixture>[0]): Promise<{ fx: ControlFixture; port: number }> {
  const fx = await createControlFixture(options);
  fixtures.push(fx);
  await fx.app.listen({ port: 0, host: '127.0.0.1' });
  return { fx, port: (fx.app.server.address() as net.AddressInfo).port };
}

/** One GET over HTTP or HTTPS (trusting Warden's certificate), with its status, headers and body. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.get(url, { headers, ca: tls.cert, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('control API transport', () => {
  test('--api-tls: the API answers HTTPS with Warden\'s certificate, and nothing over plain HTTP', async () => {
    const { port } = await started({ http: { tls } });
    const res = await get(`https://127.0.0.1:${port}/api/health`);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).status, 'ok');
    // The certificate served is Warden's.
    const peer = await new Promise<string>((resolve, reject) => {
      const req = https.get(`https://127.0.0.1:${port}/api/health`, { ca: tls.cert, servername: 'localhost' }, (r) => {
        resolve((r.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256);
        r.resume();
      });
      req.on('error', reject);
    });
    assert.equal(peer, new (await import('node:crypto')).X509Certificate(tls.cert).fingerprint256);
    // Plain HTTP to the TLS port gets no API answer.
    const plain = await get(`http://127.0.0.1:${port}/api/health`).catch((err: Error) => ({ status: 0, headers: {}, body: err.message }));
    assert.notEqual(plain.status, 200);
  });

  test('--trust-proxy: X-Forwarded-Proto counts only from a trusted proxy, and decides the cookies\' Secure flag', async () => {
    const provider = { kind: 'IdentityProvider' as const, name: 'corp', type: 'saml' as const, entryPoint: 'https://idp.example/sso', idpCert: tls.cert };
    const trusted = await started({ http: { trustProxy: ['127.0.0.1'] } });
    const untrusted = await started({});
    for (const { fx } of [trusted, untrusted]) await fx.deps.signIn.apply([provider]);
    const login = (port: number) => get(`http://127.0.0.1:${port}/auth/saml/corp/login`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'warden.example' });
    const viaProxy = await login(trusted.port);
    assert.equal(viaProxy.status, 302);
    const cookie = String(viaProxy.headers['set-cookie'] ?? '');
    assert.match(cookie, /; Secure/);
    // The ACS the IdP is told about is the proxy's https address.
    assert.match(decodeURIComponent(String(viaProxy.headers.location)), /SAMLRequest=/);
    const direct = await login(untrusted.port);
    assert.equal(direct.status, 302);
    assert.equal(direct.headers['set-cookie'], undefined, 'a header anyone can send must not make Warden think it is on HTTPS');
  });

  test('a request body trickled to a public route is cut off by the request timeout', async () => {
    const { port } = await started({ http: { requestTimeoutMs: 1500 } });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\ngrant_type=');
    // One more byte now and then, never the whole body: the server must end it, not wait for us.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('x'); }, 200);
    await closed;
    clearInterval(drip);
    assert.match(answer, /^HTTP\/1\.1 408 /, `answer: ${answer.slice(0, 80)}`);
  });

  test('control: a prompt request on the same route is answered', async () => {
    const { port } = await started({ http: { requestTimeoutMs: 1500 } });
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (r) => { r.resume(); resolve(r.statusCode ?? 0); });
      req.on('error', reject);
      req.end('grant_type=client_credentials');
    });
    assert.equal(res, 401);
  });
});
