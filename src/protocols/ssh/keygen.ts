/**
 * Ed25519 key pairs in OpenSSH's format, generated with ssh2. Owns only the generation; it never stores or logs a key.
 *
 * Why not `ssh2.utils.generateKeyPairSync` alone: about 1 in 250 of the ed25519 keys ssh2 1.17 writes carry a 31-byte
 * public key (a leading zero byte dropped), which its own `parseKey` then rejects as "Malformed OpenSSH private key".
 * A host key like that would stop Warden from starting. Each pair is therefore checked by parsing it back (and its
 * public key for 32 bytes) and generated again when it does not round-trip.
 */
import ssh2 from 'ssh2';

/** An OpenSSH private key (text) and its one-line public key. */
export interface OpenSshKeyPair {
  private: string;
  public: string;
}

/** A new ed25519 pair that ssh2 (and OpenSSH) can read back; `passphrase` encrypts the private key (aes256-cbc). */
export function generateEd25519(passphrase?: string): OpenSshKeyPair {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = passphrase === undefined ? ssh2.utils.generateKeyPairSync('ed25519')
      : ssh2.utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-cbc', rounds: 16 });
    const parsed = ssh2.utils.parseKey(pair.private, passphrase);
    if (parsed instanceof Error || Array.isArray(parsed)) continue;
    // The public blob is string "ssh-ed25519" (4 + 11 bytes) then string key (4 + 32 bytes).
    if (parsed.getPublicSSH().length !== 4 + 11 + 4 + 32) continue;
    return { private: pair.private, public: pair.public };
  }
  // Twenty bad pairs in a row do not happen by chance: something else is wrong with the key generator.
  throw new Error('could not generate a readable ed25519 key pair');
}
