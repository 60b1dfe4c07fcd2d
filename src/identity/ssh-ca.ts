/**
 * Warden's SSH user certificate authority: one Ed25519 key created on first use at `<dataDir>/ssh-user-ca.pem`
 * (PKCS#8, mode 0600, like the token signing key), which signs short-lived OpenSSH user certificates for callers
 * holding a Warden token (`warden ssh-cert`, like `tsh`), and the check of such a certificate when a caller logs in
 * to Warden's SSH listener with it.
 * A certificate is a pointer to the token it was issued for, never a credential of its own: its key id carries the
 * token's jti, it ends when the token ends, and at every login (and every sweep of a live session) the subject is
 * rebuilt from the token's stored record by that jti, so revoking the token revokes the certificate and a delegated
 * token's narrowing (targets, classes, groups, chain) holds for its certificate too: nothing widens on the way.
 * Extensions: only `permit-pty`. Warden itself decides forwarding, agents and X11 by policy (class `forward`), so
 * the certificate grants none of them to a host that trusts this CA directly, nor `permit-user-rc` (an unaudited
 * command at login). Critical options: Warden issues none and refuses every one it is shown (it enforces none).
 * This module must never log, return or export the CA's private key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { WardenError } from '../errors.js';
import type { Subject } from '../session/types.js';
import type { Store, TokenRecord } from '../store/types.js';
import { readOrCreateSecretFile } from '../vault/keyfile.js';
import { CERT_SUFFIX, FOREVER, SSH_CERT_TYPE_USER, decodeCertificate, encodeCertificate, type DecodedCertificate } from './ssh-cert.js';
import { SshReader, fingerprintOf, parsePublicKeyBlob, parsePublicKeyText, sshString } from './ssh-wire.js';
import type { TokenService } from './tokens.js';

/** Name of the CA key file inside the data directory. */
export const SSH_CA_KEY_FILE = 'ssh-user-ca.pem';
/** The only extension Warden's certificates carry (see the header for why). */
export const CERT_EXTENSIONS = ['permit-pty'] as const;
/** Certificates start this long before they are issued, so a host whose clock runs a little late accepts them. */
export const CERT_BACKDATE_SECONDS = 60;
/** Clock skew tolerated when Warden checks a certificate's validity window (it issued it with its own clock). */
export const CERT_CLOCK_SKEW_SECONDS = 5;
/** The key id of a Warden certificate: `warden <token jti> <principal>` (names and ids never hold spaces). */
const KEY_ID = /^warden (\S+) (\S+)$/;

/** A certificate as `POST /api/ssh/certificates` returns it. */
export interface IssuedCertificate {
  /** The certificate in OpenSSH's one-line form, to write to `<key>-cert.pub`. */
  certificate: string;
  keyId: string;
  serial: string;
  principals: string[];
  validAfter: string;
  validBefore: string;
  /** Fingerprint of the certified key. */
  fingerprint: string;
}

const invalid = (message: string, detail?: string) => new WardenError('WARDEN_ERR_SSH_CERT_INVALID', message, { detail });
const epoch = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString();

/** Warden's SSH user CA: issues certificates for token holders and turns a presented certificate into a Subject. */
export class SshCertificateAuthority {
  /** The CA's public key blob. */
  readonly publicKeyBlob: Buffer;

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    private readonly deps: { store: Store; tokens: TokenService; now?: () => number },
  ) {
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    this.publicKeyBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  }

  /** Loads `<dataDir>/ssh-user-ca.pem`, creating it (0600) with a new Ed25519 key on first use. */
  static async loadOrCreate(dataDir: string, deps: { store: Store; tokens: TokenService; now?: () => number }): Promise<SshCertificateAuthority> {
    const file = path.join(dataDir, SSH_CA_KEY_FILE);
    const { text } = await readOrCreateSecretFile(file, () =>
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(text);
    } catch {
      throw new WardenError('WARDEN_ERR_INTERNAL', `SSH CA key file ${file} does not hold a PKCS#8 private key`, { public: false });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new WardenError('WARDEN_ERR_INTERNAL', `SSH CA key file ${file} does not hold an Ed25519 key`, { public: false });
    }
    return new SshCertificateAuthority(privateKey, createPublicKey(privateKey), deps);
  }

  /** The CA public key in OpenSSH's one-line form, for `TrustedUserCAKeys` or `cert-authority` lines. */
  get publicKeyLine(): string {
    return `ssh-ed25519 ${this.publicKeyBlob.toString('base64')} warden-user-ca`;
  }

  /** The CA key's fingerprint (`SHA256:...`). */
  get fingerprint(): string {
    return fingerprintOf(this.publicKeyBlob);
  }

  /**
   * Signs a user certificate for `caller` (verified from its Warden token) over `publicKeyText` (one `.pub` line):
   * principal the caller's name, valid until the token ends (never longer), key id naming the token's jti.
   */
  async issue(caller: Subject, publicKeyText: string): Promise<IssuedCertificate> {
    const key = parsePublicKeyText(publicKeyText);
    const now = BigInt(this.nowSeconds());
    const validBefore = BigInt(caller.expiresAt);
    if (validBefore <= now) throw new WardenError('WARDEN_ERR_TOKEN_EXPIRED', 'Warden token expired');
    if (/\s/.test(caller.id) || /\s/.test(caller.tokenId)) throw invalid('this caller cannot be named in a certificate');
    const keyId = `warden ${caller.tokenId} ${caller.id}`;
    const serial = randomBytes(8).readBigUInt64BE();
    const validAfter = now > BigInt(CERT_BACKDATE_SECONDS) ? now - BigInt(CERT_BACKDATE_SECONDS) : 0n;
    const blob = encodeCertificate({
      publicKey: key.blob, serial, type: SSH_CERT_TYPE_USER, keyId, principals: [caller.id], validAfter, validBefore,
      criticalOptions: new Map(), extensions: new Map(CERT_EXTENSIONS.map((name) => [name, Buffer.alloc(0)])),
      signatureKey: this.publicKeyBlob,
    }, (data) => Buffer.concat([sshString('ssh-ed25519'), sshString(sign(null, data, this.privateKey))]));
    const comment = key.comment.replace(/[^\x21-\x7e]/g, '') || `warden:${caller.id}`;
    return {
      certificate: `${key.algorithm}${CERT_SUFFIX} ${blob.toString('base64')} ${comment}`,
      keyId, serial: serial.toString(), principals: [caller.id], validAfter: epoch(validAfter), validBefore: epoch(validBefore),
      fingerprint: key.fingerprint,
    };
  }

  /**
   * Checks a certificate a caller logs in with as `user` (the engine has verified the caller holds the certified
   * key) and returns the subject of the token it was issued for. WARDEN_ERR_SSH_CERT_INVALID (not Warden's CA, bad
   * signature, not a user certificate, wrong principal, critical options, not yet valid), _SSH_CERT_EXPIRED, or the
   * token's own refusal (WARDEN_ERR_TOKEN_REVOKED, _PRINCIPAL_DISABLED, _TOKEN_INVALID).
   */
  async authenticate(user: string, algorithm: string, blob: Buffer): Promise<Subject> {
    const cert = this.verifySignature(blob);
    if (!algorithmMatches(algorithm, cert.certType)) throw invalid(`algorithm ${algorithm} does not match certificate type ${cert.certType}`);
    if (cert.type !== SSH_CERT_TYPE_USER) throw invalid('this is a host certificate, not a user certificate');
    if (!cert.principals.includes(user)) throw invalid(`this certificate is not valid for "${user}"`);
    const now = BigInt(this.nowSeconds());
    const skew = BigInt(CERT_CLOCK_SKEW_SECONDS);
    if (cert.validAfter > now + skew) throw invalid(`this certificate is not valid before ${epoch(cert.validAfter)}`);
    if (cert.validBefore === FOREVER) throw invalid('a Warden certificate must end');
    if (cert.validBefore <= now - skew) {
      throw new WardenError('WARDEN_ERR_SSH_CERT_EXPIRED', `SSH certificate expired at ${epoch(cert.validBefore)}; run \`warden ssh-cert\` again`);
    }
    if (cert.criticalOptions.size > 0) {
      throw invalid(`certificate critical options are not supported: ${[...cert.criticalOptions.keys()].join(', ').slice(0, 200)}`);
    }
    parsePublicKeyBlob(cert.publicKey); // the certified key must itself be one Warden accepts (RSA >= 2048, ...)
    const match = KEY_ID.exec(cert.keyId);
    if (!match || match[2] !== user) throw invalid('this certificate names no Warden token for this user');
    return this.subjectOfToken(match[1], user);
  }

  /** Decodes and checks the CA signature; every failure is WARDEN_ERR_SSH_CERT_INVALID. */
  private verifySignature(blob: Buffer): DecodedCertificate {
    let cert: DecodedCertificate;
    try {
      cert = decodeCertificate(blob);
    } catch (err) {
      throw invalid('malformed SSH certificate', err instanceof Error ? err.message : String(err));
    }
    if (!cert.signatureKey.equals(this.publicKeyBlob)) throw invalid('this SSH certificate was not signed by Warden\'s CA');
    let ok = false;
    try {
      const reader = new SshReader(cert.signature);
      const algorithm = reader.string().toString('latin1');
      const signature = reader.string();
      reader.end('certificate signature');
      ok = algorithm === 'ssh-ed25519' && signature.length === 64 && verify(null, cert.signed, this.publicKey, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw invalid('the SSH certificate\'s signature does not verify');
    return cert;
  }

  /**
   * The subject of token `jti` as a token login would give it, rebuilt from the stored record (so every narrowing
   * of a delegated token holds), after the token service's standing check (revoked links, disabled principals).
   */
  private async subjectOfToken(jti: string, user: string): Promise<Subject> {
    const record: TokenRecord | undefined = await this.deps.store.tokens.get(jti);
    if (record === undefined || record.subject !== user) throw invalid('the Warden token of this certificate is unknown');
    const expiresAt = Math.floor(Date.parse(record.expiresAt) / 1000);
    if (expiresAt <= this.nowSeconds()) {
      throw new WardenError('WARDEN_ERR_SSH_CERT_EXPIRED', 'the Warden token of this SSH certificate expired; sign in and run `warden ssh-cert` again');
    }
    const subject: Subject = {
      id: record.subject, kind: record.subjectKind, groups: [...record.groups], chain: record.chain.map((a) => ({ ...a })),
      tokenId: record.id, targets: [...record.targets], expiresAt,
      ...(record.classes === null ? {} : { classes: [...record.classes] }),
    };
    const chainGroups = await this.deps.tokens.checkStanding(subject);
    if (subject.chain.length > 0) subject.chainGroups = chainGroups;
    return subject;
  }

  private nowSeconds(): number {
    return Math.floor((this.deps.now ?? Date.now)() / 1000);
  }
}

/** The algorithm a client names for a certificate: its type, or for RSA the rsa-sha2-256/512 variants of it. */
function algorithmMatches(algorithm: string, certType: string): boolean {
  if (algorithm === certType) return true;
  return certType === `ssh-rsa${CERT_SUFFIX}` && (algorithm === `rsa-sha2-256${CERT_SUFFIX}` || algorithm === `rsa-sha2-512${CERT_SUFFIX}`);
}
