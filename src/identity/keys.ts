/**
 * The token signing key: one Ed25519 key pair (JWS alg EdDSA) generated on first start and kept as a private
 * JWK at `<dataDir>/signing-key.json` (mode 0600). Its key id is the RFC 7638 thumbprint of the public key, so
 * the `kid` in every token header names the key that signed it and a later rotation can keep several keys.
 * This module must never log, export or return the private JWK outside of the key file.
 */
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { WardenError } from '../errors.js';
import { readOrCreateSecretFile } from '../vault/keyfile.js';

/** Name of the signing key file inside the data directory. */
export const SIGNING_KEY_FILE = 'signing-key.json';
/** The JWS algorithm of Warden tokens. */
export const SIGNING_ALG = 'EdDSA';

/** A loaded signing key: the private half signs, the public half (also as a JWK for a future JWKS) verifies. */
export interface SigningKey {
  kid: string;
  alg: typeof SIGNING_ALG;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** The public members of an Ed25519 JWK; the rest (notably `d`) must never leave this module. */
function publicPart(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/** Imports a private Ed25519 JWK into a SigningKey, refusing anything else. */
async function fromPrivateJwk(jwk: JWK | null, origin: string): Promise<SigningKey> {
  if (jwk === null || typeof jwk !== 'object' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string') {
    throw new WardenError('WARDEN_ERR_INTERNAL', `${origin} does not hold an Ed25519 private JWK`);
  }
  const pub = publicPart(jwk);
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const privateKey = (await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, SIGNING_ALG)) as CryptoKey;
  const publicKey = (await importJWK(pub, SIGNING_ALG)) as CryptoKey;
  return { kid, alg: SIGNING_ALG, privateKey, publicKey, publicJwk: { ...pub, kid, alg: SIGNING_ALG, use: 'sig' } };
}

/** Generates a fresh private JWK as the key file's text. */
async function newKeyFileText(): Promise<string> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicPart(jwk), 'sha256');
  return `${JSON.stringify({ ...jwk, kid, alg: SIGNING_ALG, use: 'sig' }, null, 2)}\n`;
}

/** Generates a signing key in memory only (tests, tooling); it is not persisted. */
export async function generateSigningKey(): Promise<SigningKey> {
  return fromPrivateJwk(JSON.parse(await newKeyFileText()) as JWK, 'generated key');
}

/** Loads `<dataDir>/signing-key.json`, creating it (0600) with a new Ed25519 key on first use. */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const file = path.join(dataDir, SIGNING_KEY_FILE);
  const { text } = await readOrCreateSecretFile(file, newKeyFileText);
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new WardenError('WARDEN_ERR_INTERNAL', `signing key file ${file} is not valid JSON`);
  }
  return fromPrivateJwk(jwk, `signing key file ${file}`);
}
