/**
 * The OpenSSH certificate format (PROTOCOL.certkeys, `*-cert-v01@openssh.com`): encoding a user certificate for
 * Warden's CA to sign, and decoding one a caller presents. Written by hand because `ssh2` parses keys but neither
 * signs nor decodes certificates, and no maintained JavaScript library does both for the key types Warden accepts;
 * the format is a dozen RFC 4251 fields, and the real `ssh-keygen -L` and `sshd` check our output in the tests.
 * This module encodes and decodes only: it never decides whether a certificate is trusted (ssh-ca.ts does) and
 * signs only through the function it is handed, so it never sees a private key.
 */
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors.js';
import { ACCEPTED_KEY_TYPES, SshReader, sshString, sshUint32, sshUint64 } from './ssh-wire.js';

/** The suffix that turns a key type into its certificate type. */
export const CERT_SUFFIX = '-cert-v01@openssh.com';
/** Certificate type codes. */
export const SSH_CERT_TYPE_USER = 1;
export const SSH_CERT_TYPE_HOST = 2;
/** `valid before` meaning forever. Warden never issues it, and refuses it (every certificate must end). */
export const FOREVER = 0xffff_ffff_ffff_ffffn;

/** Number of public-key fields after the type string, per key type (RSA: e, n; ECDSA: curve, point; Ed25519: key). */
const KEY_FIELDS: Record<string, number> = {
  'ssh-ed25519': 1, 'ssh-rsa': 2, 'ecdsa-sha2-nistp256': 2, 'ecdsa-sha2-nistp384': 2, 'ecdsa-sha2-nistp521': 2,
};

/** The contents of a certificate, without its signature. Times are seconds since the epoch. */
export interface CertificateFields {
  /** The certified key's blob (RFC 4253 form, with its own type string). */
  publicKey: Buffer;
  serial: bigint;
  type: typeof SSH_CERT_TYPE_USER | typeof SSH_CERT_TYPE_HOST;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  /** Name to raw data (for options with a value, the data is itself an SSH string). */
  criticalOptions: Map<string, Buffer>;
  extensions: Map<string, Buffer>;
  /** The CA's public key blob. */
  signatureKey: Buffer;
}

/** A decoded certificate: its fields, the bytes its signature covers, and the signature blob. */
export interface DecodedCertificate extends CertificateFields {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  certType: string;
  /** The certified key's type, e.g. `ssh-ed25519`. */
  keyType: string;
  nonce: Buffer;
  /** Everything before the signature: what the CA signed. */
  signed: Buffer;
  /** The signature blob (string algorithm, string signature). */
  signature: Buffer;
}

const malformed = (why: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', `malformed SSH certificate: ${why}`);

/** Options and extensions: sorted by name (the format requires it), each as name then data. */
function encodeOptions(options: Map<string, Buffer>): Buffer {
  const names = [...options.keys()].sort();
  return sshString(Buffer.concat(names.flatMap((name) => [sshString(name), sshString(options.get(name)!)])));
}

/** The key type and the fields of a plain public key blob. */
function splitKey(blob: Buffer): { keyType: string; fields: Buffer } {
  const reader = new SshReader(blob);
  const keyType = reader.string().toString('latin1');
  if (!(ACCEPTED_KEY_TYPES as readonly string[]).includes(keyType)) throw malformed(`key type "${keyType.slice(0, 64)}" is not accepted`);
  return { keyType, fields: blob.subarray(reader.position) };
}

/**
 * Encodes a certificate and has `sign` sign it (`sign` returns the SSH signature blob over the bytes it gets).
 * Returns the certificate blob. A fresh 32-byte nonce makes each one unique, as PROTOCOL.certkeys asks.
 */
export function encodeCertificate(fields: CertificateFields, sign: (data: Buffer) => Buffer): Buffer {
  const { keyType, fields: keyFields } = splitKey(fields.publicKey);
  const signed = Buffer.concat([
    sshString(`${keyType}${CERT_SUFFIX}`),
    sshString(randomBytes(32)),
    keyFields,
    sshUint64(fields.serial),
    sshUint32(fields.type),
    sshString(fields.keyId),
    sshString(Buffer.concat(fields.principals.map((p) => sshString(p)))),
    sshUint64(fields.validAfter),
    sshUint64(fields.validBefore),
    encodeOptions(fields.criticalOptions),
    encodeOptions(fields.extensions),
    sshString(Buffer.alloc(0)), // reserved
    sshString(fields.signatureKey),
  ]);
  return Buffer.concat([signed, sshString(sign(signed))]);
}

/** Reads an options or extensions field; names must be unique and sorted (OpenSSH refuses anything else too). */
function decodeOptions(data: Buffer, what: string): Map<string, Buffer> {
  const reader = new SshReader(data);
  const out = new Map<string, Buffer>();
  let previous: string | undefined;
  while (reader.remaining > 0) {
    const name = reader.string().toString('utf8');
    const value = reader.string();
    if (previous !== undefined && name <= previous) throw malformed(`${what} are not sorted or repeat "${name.slice(0, 64)}"`);
    out.set(name, value);
    previous = name;
  }
  return out;
}

/** Decodes a certificate blob; WARDEN_ERR_BAD_REQUEST when it is not a well-formed v01 certificate of an accepted key. */
export function decodeCertificate(blob: Buffer): DecodedCertificate {
  const reader = new SshReader(blob);
  const certType = reader.string().toString('latin1');
  if (!certType.endsWith(CERT_SUFFIX)) throw malformed(`"${certType.slice(0, 64)}" is not a certificate type`);
  const keyType = certType.slice(0, -CERT_SUFFIX.length);
  const fieldCount = KEY_FIELDS[keyType];
  if (fieldCount === undefined) throw malformed(`certified key type "${keyType.slice(0, 64)}" is not accepted`);
  const nonce = reader.string();
  const keyStart = reader.position;
  for (let i = 0; i < fieldCount; i++) reader.string();
  const publicKey = Buffer.concat([sshString(keyType), blob.subarray(keyStart, reader.position)]);
  const serial = reader.uint64();
  const type = reader.uint32();
  if (type !== SSH_CERT_TYPE_USER && type !== SSH_CERT_TYPE_HOST) throw malformed(`unknown certificate type ${type}`);
  const keyId = reader.string().toString('utf8');
  const principalReader = new SshReader(reader.string());
  const principals: string[] = [];
  while (principalReader.remaining > 0) principals.push(principalReader.string().toString('utf8'));
  const validAfter = reader.uint64();
  const validBefore = reader.uint64();
  const criticalOptions = decodeOptions(reader.string(), 'critical options');
  const extensions = decodeOptions(reader.string(), 'extensions');
  reader.string(); // reserved: ignored, as PROTOCOL.certkeys says
  const signatureKey = reader.string();
  const signed = blob.subarray(0, reader.position);
  const signature = reader.string();
  reader.end('SSH certificate');
  return {
    certType, keyType, nonce, publicKey, serial, type, keyId, principals, validAfter, validBefore, criticalOptions,
    extensions, signatureKey, signed, signature,
  };
}
