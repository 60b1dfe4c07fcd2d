/**
 * The proof-of-possession check of SSH `publickey` authentication, for plain keys and for OpenSSH certificates, as
 * `ssh2`'s server hands a login attempt over (`ctx.key`, `ctx.signature`, `ctx.blob`, `ctx.hashAlgo`).
 * Why it exists: ssh2 strips and converts the signature only when its algorithm equals the key's, which is never
 * the case for a certificate (the key is `ssh-ed25519-cert-v01@openssh.com`, the signature `ssh-ed25519`), so for
 * certificates it passes the raw SSH signature blob and no hash, and `parseKey` cannot read a certificate at all.
 * Here the certified key is taken out of the certificate and the signature checked with node:crypto.
 * It only answers "does the caller hold the private key": whether the key or certificate is trusted is the
 * PublicKeyAuthenticator's business (ssh-keys.ts, ssh-ca.ts). Pure functions only.
 */
import { createPublicKey, verify } from 'node:crypto';
import { CERT_SUFFIX, decodeCertificate } from './ssh-cert.js';
import { SshReader, isCertificateAlgorithm, parsePublicKeyBlob } from './ssh-wire.js';

/** What ssh2's PKAuthContext carries (server side). */
export interface PublicKeyAttempt {
  key: { algo: string; data: Buffer };
  /** Absent for the client's query ("would this key do?"), which proves nothing yet. */
  signature?: Buffer;
  /** The signed data (session id and the request), built by ssh2. */
  blob?: Buffer;
  hashAlgo?: string;
}

/** Signature algorithms accepted with a certified key, and their hash (SHA-1 `ssh-rsa` signatures are refused). */
const SIGNATURE_HASH: Record<string, string | null> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
};

/** Bytes of each half of an ECDSA signature in IEEE P1363 form, per curve. */
const EC_HALF: Record<string, number> = { 'ecdsa-sha2-nistp256': 32, 'ecdsa-sha2-nistp384': 48, 'ecdsa-sha2-nistp521': 66 };

/**
 * True when the attempt carries a valid signature made with the key (or the certified key) it names. False for a
 * query without signature, a malformed key or signature, or a key type Warden does not accept.
 */
export function verifyPublicKeyAttempt(attempt: PublicKeyAttempt): boolean {
  const { key, signature, blob } = attempt;
  if (signature === undefined || blob === undefined) return false;
  try {
    if (!isCertificateAlgorithm(key.algo)) {
      return parsePublicKeyBlob(key.data).parsed.verify(blob, signature, attempt.hashAlgo);
    }
    return verifyWithCertifiedKey(key.algo, key.data, signature, blob);
  } catch {
    return false;
  }
}

/** Checks a raw SSH signature blob against the key a certificate certifies. */
function verifyWithCertifiedKey(algorithm: string, certificate: Buffer, signature: Buffer, blob: Buffer): boolean {
  const cert = decodeCertificate(certificate);
  const key = parsePublicKeyBlob(cert.publicKey);
  const reader = new SshReader(signature);
  const sigAlgo = reader.string().toString('latin1');
  let sig = reader.string();
  reader.end('signature');
  const hash = SIGNATURE_HASH[sigAlgo];
  if (hash === undefined) return false;
  // The signature must be of the certified key's kind; for RSA, of the variant the client named
  // (`rsa-sha2-512-cert-v01@openssh.com` signs with rsa-sha2-512; `ssh-rsa-cert-v01` would mean SHA-1, refused above).
  const expected = key.algorithm === 'ssh-rsa' ? algorithm.slice(0, -CERT_SUFFIX.length) : key.algorithm;
  if (sigAlgo !== expected) return false;
  const publicKey = createPublicKey(key.parsed.getPublicPEM());
  if (key.algorithm.startsWith('ecdsa-')) {
    sig = p1363(sig, EC_HALF[key.algorithm]);
    return verify(hash, blob, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  }
  return verify(hash, blob, publicKey, sig);
}

/** SSH's ECDSA signature (mpint r, mpint s) as fixed-width r || s. */
function p1363(sig: Buffer, half: number): Buffer {
  const reader = new SshReader(sig);
  const parts = [reader.string(), reader.string()].map((mpint) => {
    const trimmed = mpint.subarray(mpint.findIndex((b) => b !== 0) === -1 ? mpint.length : mpint.findIndex((b) => b !== 0));
    if (trimmed.length > half) throw new Error('ECDSA signature value too long');
    return Buffer.concat([Buffer.alloc(half - trimmed.length), trimmed]);
  });
  reader.end('ECDSA signature');
  return Buffer.concat(parts);
}
