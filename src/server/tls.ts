/**
 * The listener's TLS certificate: generated self-signed on first start (covering localhost, 127.0.0.1, ::1 and the
 * machine's host name), kept as `<dataDir>/tls.crt` and `<dataDir>/tls.key` (0600). An operator replaces the two
 * files with a real certificate to use their own PKI. Never logs the key.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

/** PEM certificate and key used by every TLS listener. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/** Loads the certificate pair from the data dir, generating it on first start. */
export async function loadOrCreateTls(dataDir: string): Promise<TlsMaterial> {
  const certPath = path.join(dataDir, 'tls.crt');
  const keyPath = path.join(dataDir, 'tls.key');
  try {
    return { cert: await fs.readFile(certPath, 'utf8'), key: await fs.readFile(keyPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const hostName = os.hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'warden' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 825 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [
        { type: 2, value: 'localhost' }, { type: 2, value: hostName },
        { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' },
      ] },
    ],
  });
  await fs.writeFile(keyPath, pems.private, { mode: 0o600 });
  await fs.writeFile(certPath, pems.cert, { mode: 0o600 });
  return { cert: pems.cert, key: pems.private };
}
