/**
 * End to end (issue 9 item 12): `warden start --api-tls` serves the control API over HTTPS with the certificate in
 * its data directory, the CLI reaches it with that certificate trusted, and half-given TLS files are refused at start.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runWarden, startWarden, type WardenProcess } from './harness/warden.js';

let warden: WardenProcess;
let ca: string;

before(async () => {
  warden = await startWarden({ args: ['--api-tls', '--trust-proxy', '127.0.0.1'] });
  ca = await readFile(join(warden.dataDir, 'tls.crt'), 'utf8');
});
after(async () => {
  await warden?.stop();
  if (warden) await rm(warden.dataDir, { recursive: true, force: true });
});

function httpsGet(path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: warden.ports.api, path, ca, servername: 'localhost',
      headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('warden start --api-tls', () => {
  it('answers HTTPS with the data directory\'s certificate; an untrusting client is refused the handshake', async () => {
    const health = await httpsGet('/api/health');
    assert.equal(health.status, 200);
    const targets = await httpsGet('/api/targets', warden.adminToken);
    assert.equal(targets.status, 200);
    await assert.rejects(new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: warden.ports.api, path: '/api/health' }, resolve).on('error', reject);
    }), /self-signed|unable to verify|certificate/i);
  });

  it('the CLI works against it with the certificate trusted', async () => {
    const r = await runWarden(['targets', 'list'], { env: { WARDEN_URL: `https://localhost:${warden.ports.api}`,
      WARDEN_TOKEN: warden.adminToken, NODE_EXTRA_CA_CERTS: join(warden.dataDir, 'tls.crt') } });
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses to start with only one of --api-tls-cert and --api-tls-key', async () => {
    const r = await runWarden(['start', '--data-dir', join(warden.dataDir, 'other'), '--api-port', '0', '--postgres-port', '0', '--ssh-port', '0', '--kube-port', '0', '--http-port', '0',
      '--api-tls-cert', join(warden.dataDir, 'tls.crt')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /give both --api-tls-cert and --api-tls-key/);
  });
});
