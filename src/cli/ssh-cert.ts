/**
 * `warden ssh-cert --key ~/.ssh/id_ed25519.pub`: asks Warden's SSH user CA for a certificate over the key, valid
 * for what is left of the caller's token, and writes it beside the key as `id_ed25519-cert.pub`, where `ssh` picks
 * it up by itself (like `tsh login`). `--print-ca` prints the CA public key for hosts' `TrustedUserCAKeys`.
 * Only the public key is read and sent; the certificate file is written 0644 like ssh-keygen's.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IssuedCertificate } from '../identity/ssh-ca.js';
import { clientFor } from './client.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, CliError, UsageError, expectPositionals, guard, parseCommand, processIo, type Io } from './common.js';
import { readPublicKeyFile } from './ssh-keys.js';

/** Usage of `warden ssh-cert`. */
export const SSH_CERT_USAGE = `Usage:
  warden ssh-cert --key ~/.ssh/id_ed25519.pub [--out FILE] [--json]
  warden ssh-cert --print-ca

  Signs the public key with Warden's SSH user CA for your current Warden token (from \`warden login\`,
  --token or $WARDEN_TOKEN) and writes the certificate beside it (id_ed25519-cert.pub), where ssh finds it.
  It is valid until your token ends, names you as its principal, and stops working when the token is revoked.
  Then: ssh -p 2222 YOU:TARGET@gateway
  --print-ca  prints the CA public key (for TrustedUserCAKeys or a cert-authority line)
${CONNECTION_HELP}`;

/** Where the certificate of `key` goes: `x.pub` -> `x-cert.pub`, as OpenSSH looks for it. */
export function certificatePath(key: string): string {
  return key.endsWith('.pub') ? `${key.slice(0, -4)}-cert.pub` : `${key}-cert.pub`;
}

/** Runs `warden ssh-cert ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return guard(io, SSH_CERT_USAGE, async () => {
    const { values, positionals } = parseCommand(argv, {
      ...CONNECTION_OPTIONS, key: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, 'print-ca': { type: 'boolean' },
    });
    if (values.help) {
      io.stdout(SSH_CERT_USAGE);
      return 0;
    }
    expectPositionals(positionals, []);
    const client = clientFor(values, io);
    if (values['print-ca']) {
      const ca = await client.request<{ publicKey: string }>('GET', '/api/ssh/ca', undefined, { anonymous: true });
      io.stdout(`${ca.publicKey}\n`);
      return 0;
    }
    if (values.key === undefined) throw new UsageError('missing --key (the public key to certify, e.g. ~/.ssh/id_ed25519.pub)');
    const publicKey = await readPublicKeyFile(values.key, io.cwd);
    const issued = await client.post<IssuedCertificate>('/api/ssh/certificates', { publicKey });
    const out = path.resolve(io.cwd, values.out ?? certificatePath(values.key));
    try {
      await writeFile(out, `${issued.certificate}\n`, { mode: 0o644 });
    } catch (err) {
      throw new CliError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    io.stdout(values.json ? `${JSON.stringify({ ...issued, file: out }, null, 2)}\n`
      : `certificate for ${issued.principals.join(', ')} written to ${out}, valid until ${issued.validBefore}\n`);
    return 0;
  });
}
