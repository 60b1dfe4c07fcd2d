/**
 * SSH public keys as Warden accepts them: parsing and validation of the one-line OpenSSH form and of wire blobs
 * (with `ssh2`'s `utils.parseKey`), SHA-256 fingerprints as OpenSSH prints them, and the few RFC 4251 wire
 * primitives (string, uint32, uint64) the certificate codec needs. Accepted key types: ssh-ed25519,
 * ecdsa-sha2-nistp256/384/521 and ssh-rsa of at least 2048 bits; DSA, certificates, private keys and anything
 * else are refused with a clear WARDEN_ERR_BAD_REQUEST, because a gateway must never trust a key it cannot judge.
 * Pure functions only: no store, no clock, no I/O.
 */
import { createHash, createPublicKey } from 'node:crypto';
import ssh2, { type ParsedKey } from 'ssh2';
import { WardenError } from '../errors.js';

/** Key types Warden accepts for callers (registered keys and certified keys). */
export const ACCEPTED_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
/** Smallest RSA modulus accepted (NIST SP 800-131A; OpenSSH itself refuses less than 1024). */
export const MIN_RSA_BITS = 2048;
/** Largest RSA modulus accepted, as OpenSSH's (bigger keys only make every signature check dearer). */
export const MAX_RSA_BITS = 16384;
/** Longest one-line key accepted: a 16384-bit RSA key is about 2.8 KB of base64. */
const MAX_KEY_TEXT = 16 * 1024;

/** A validated SSH public key. */
export interface SshPublicKey {
  /** The key type, one of ACCEPTED_KEY_TYPES. */
  algorithm: string;
  /** The wire blob (RFC 4253 section 6.6). */
  blob: Buffer;
  /** `SHA256:<base64 without padding>`. */
  fingerprint: string;
  /** `<algorithm> <base64 blob>` (no comment). */
  line: string;
  /** The comment after the key in its text form, '' when none. */
  comment: string;
  /** ssh2's parsed key, able to verify signatures. */
  parsed: ParsedKey;
}

const badKey = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);

/** The fingerprint OpenSSH prints for a key blob (`ssh-keygen -l -E sha256`). */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** True for an OpenSSH certificate algorithm or type name (`...-cert-v01@openssh.com`). */
export function isCertificateAlgorithm(algorithm: string): boolean {
  return /-cert-v0[01]@openssh\.com$/.test(algorithm);
}

/**
 * Parses and validates a public key in OpenSSH's one-line form (`ssh-ed25519 AAAA... comment`), as found in
 * `~/.ssh/id_ed25519.pub`. WARDEN_ERR_BAD_REQUEST, naming what is wrong, for anything Warden does not accept.
 */
export function parsePublicKeyText(text: string): SshPublicKey {
  if (typeof text !== 'string' || text.length > MAX_KEY_TEXT) throw badKey('the SSH public key is missing or too long');
  const trimmed = text.trim();
  if (/PRIVATE KEY/.test(trimmed)) {
    throw badKey('this is a private key; give the public key (the .pub file) and keep the private key to yourself');
  }
  if (trimmed.includes('\n')) throw badKey('give exactly one SSH public key (one line)');
  const match = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(trimmed);
  if (!match) throw badKey('not an SSH public key: expected "<type> <base64> [comment]", as in ~/.ssh/id_ed25519.pub');
  const [, type, base64, comment = ''] = match;
  const key = validate(type, Buffer.from(base64, 'base64'));
  return { ...key, comment };
}

/** Parses and validates a public key wire blob (as an SSH client sends it); see parsePublicKeyText. */
export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  const type = new SshReader(blob).string().toString('latin1');
  return { ...validate(type, blob), comment: '' };
}

/** Checks the type, parses with ssh2, and insists the blob is canonical (ssh2 re-encodes it byte for byte). */
function validate(type: string, blob: Buffer): Omit<SshPublicKey, 'comment'> {
  if (isCertificateAlgorithm(type)) {
    throw badKey('this is an SSH certificate, not a public key; give the key it certifies (e.g. id_ed25519.pub)');
  }
  if (!(ACCEPTED_KEY_TYPES as readonly string[]).includes(type)) {
    throw badKey(`SSH key type "${type.slice(0, 64)}" is not accepted; use ed25519 (recommended), ecdsa-sha2-nistp256/384/521 `
      + `or RSA of at least ${MIN_RSA_BITS} bits`);
  }
  let inner: string;
  try {
    inner = new SshReader(blob).string().toString('latin1');
  } catch {
    throw badKey('malformed SSH public key');
  }
  if (inner !== type) throw badKey(`malformed SSH public key: it says "${type}" outside and "${inner.slice(0, 64)}" inside`);
  const parsed = ssh2.utils.parseKey(`${type} ${blob.toString('base64')}`);
  if (parsed instanceof Error || Array.isArray(parsed)) throw badKey(`malformed SSH public key (${parsed instanceof Error ? parsed.message : 'several keys'})`);
  if (parsed.isPrivateKey()) throw badKey('this is a private key; give the public key');
  if (!parsed.getPublicSSH().equals(blob)) throw badKey('malformed SSH public key: its encoding is not canonical');
  checkStrength(type, blob, parsed);
  return { algorithm: type, blob, fingerprint: fingerprintOf(blob), line: `${type} ${blob.toString('base64')}`, parsed };
}

/** RSA at least MIN_RSA_BITS; an ECDSA key's curve field must match its type and the point lie on the curve. */
function checkStrength(type: string, blob: Buffer, parsed: ParsedKey): void {
  let details;
  try {
    details = createPublicKey(parsed.getPublicPEM()).asymmetricKeyDetails;
  } catch {
    throw badKey('malformed SSH public key: OpenSSL cannot load it');
  }
  if (type === 'ssh-rsa' && (details?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw badKey(`RSA key of ${details?.modulusLength ?? 0} bits refused: at least ${MIN_RSA_BITS} bits are needed`);
  }
  if (type === 'ssh-rsa' && (details?.modulusLength ?? 0) > MAX_RSA_BITS) {
    throw badKey(`RSA key of ${details?.modulusLength} bits refused: at most ${MAX_RSA_BITS} bits are accepted`);
  }
  if (type.startsWith('ecdsa-sha2-')) {
    const reader = new SshReader(blob);
    reader.string();
    const curve = reader.string().toString('latin1');
    if (`ecdsa-sha2-${curve}` !== type) throw badKey(`malformed SSH public key: ${type} names curve "${curve.slice(0, 32)}"`);
  }
}

/** Reads RFC 4251 wire data; every read throws WARDEN_ERR_BAD_REQUEST when the data runs short. */
export class SshReader {
  #pos = 0;
  constructor(private readonly data: Buffer) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.data.length - this.#pos;
  }

  /** Where the next read starts. */
  get position(): number {
    return this.#pos;
  }

  /** A uint32. */
  uint32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.#pos);
    this.#pos += 4;
    return value;
  }

  /** A uint64, as a bigint. */
  uint64(): bigint {
    this.need(8);
    const value = this.data.readBigUInt64BE(this.#pos);
    this.#pos += 8;
    return value;
  }

  /** A length-prefixed string (bytes). */
  string(): Buffer {
    const length = this.uint32();
    this.need(length);
    const value = this.data.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return value;
  }

  /** Throws unless every byte was read. */
  end(what: string): void {
    if (this.remaining !== 0) throw badKey(`malformed ${what}: ${this.remaining} trailing bytes`);
  }

  private need(n: number): void {
    if (n > this.remaining) throw badKey('malformed SSH data: it ends too early');
  }
}

/** An RFC 4251 string: uint32 length, then the bytes. */
export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An RFC 4251 uint32. */
export function sshUint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** An RFC 4251 uint64. */
export function sshUint64(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}
