/**
 * Checks an SSH private key given for a target (OpenSSH or PEM text; ed25519, RSA, ECDSA) with ssh2's own parser,
 * the one the upstream connection will use, so a key Warden cannot use fails when it is added rather than at the
 * first session. Never puts any part of the key or its passphrase in a message.
 */
import ssh2 from 'ssh2';
import { WardenError } from '../../errors.js';

/** What the parser says about a key text. */
export type PrivateKeyCheck =
  | { ok: true; type: string }
  | { ok: false; needsPassphrase: boolean; reason: string };

/** Parses `text` as a private key, with `passphrase` when given; never throws. */
export function checkPrivateKey(text: string, passphrase?: string): PrivateKeyCheck {
  let parsed: ReturnType<typeof ssh2.utils.parseKey>;
  try {
    parsed = ssh2.utils.parseKey(text, passphrase);
  } catch {
    return { ok: false, needsPassphrase: false, reason: 'not a private key ssh can read' };
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined) return { ok: false, needsPassphrase: false, reason: 'no key found' };
  if (key instanceof Error) {
    // ssh2's messages name the format problem only ("Unsupported key format", "... no passphrase given", "bad
    // passphrase?"), never key material; still, they are mapped to fixed words here.
    const message = key.message.toLowerCase();
    if (message.includes('no passphrase given')) {
      return { ok: false, needsPassphrase: true, reason: 'the key is encrypted: its passphrase is needed' };
    }
    if (message.includes('passphrase')) return { ok: false, needsPassphrase: false, reason: 'the passphrase does not open the key' };
    return { ok: false, needsPassphrase: false, reason: 'not a private key ssh can read (OpenSSH or PEM: ed25519, RSA, ECDSA)' };
  }
  if (!key.isPrivateKey()) return { ok: false, needsPassphrase: false, reason: 'this is a public key: give the private key' };
  return { ok: true, type: key.type };
}

/** True when the key text is an encrypted private key that needs a passphrase to open. */
export function needsPassphrase(text: string): boolean {
  const check = checkPrivateKey(text);
  return !check.ok && check.needsPassphrase;
}

/** Throws WARDEN_ERR_BAD_REQUEST unless `text` opens as a private key with `passphrase`. */
export function assertUsablePrivateKey(text: string, passphrase: string | undefined): void {
  const check = checkPrivateKey(text, passphrase);
  if (!check.ok) throw new WardenError('WARDEN_ERR_BAD_REQUEST', `privateKey: ${check.reason}`);
}
