/**
 * The SSH side of `warden targets add|update`: the request body of an ssh target from its flags, with its secrets
 * read only from standard input (a password, or a private key's passphrase) or from a file (the private key), never
 * from a flag, and never printed. Whether a key needs a passphrase is asked of ssh2's own parser, so an unencrypted
 * key never waits on stdin.
 */
import { readFileSync } from 'node:fs';
import { needsPassphrase } from '../protocols/ssh/private-key.js';
import { CliError, UsageError, required, type Io } from './common.js';
import { parseLabels, parsePort, readPassword } from './targets.js';
import { HTTP_ONLY } from './targets-http.js';
import { KUBE_ONLY } from './targets-kubernetes.js';

/** Flags of `targets add|update` that only PostgreSQL targets have. */
export const POSTGRES_ONLY = ['database', 'tls', 'ca-file', 'no-ca'] as const;
/** Flags of `targets add|update` that only SSH targets have. */
export const SSH_ONLY = ['private-key-file', 'no-private-key', 'host-key-fingerprint'] as const;

/** The parsed flags these functions read. */
export interface SshFlags {
  host?: string;
  port?: string;
  user?: string;
  'password-stdin'?: boolean;
  'private-key-file'?: string;
  'host-key-fingerprint'?: string;
  label?: string[];
}

/** Flags of hosts reached by host and user (postgres, ssh), which a kubernetes target (a server URL) has not. */
const HOST_FLAGS = ['host', 'port', 'user', 'password-stdin', 'no-password', 'database', 'tls'] as const;

/** Refuses flags that belong to another protocol, naming them. */
export function refuseForeignFlags(type: string, values: Record<string, unknown>): void {
  const foreign: readonly string[] = type === 'ssh' ? [...POSTGRES_ONLY, ...KUBE_ONLY, ...HTTP_ONLY]
    : type === 'kubernetes' ? [...HOST_FLAGS, ...SSH_ONLY, ...HTTP_ONLY]
      : type === 'http' ? [...HOST_FLAGS, ...SSH_ONLY, ...KUBE_ONLY.filter((f) => f !== 'client-cert' && f !== 'client-key')]
        : [...SSH_ONLY, ...KUBE_ONLY, ...HTTP_ONLY];
  const given = foreign.filter((flag) => values[flag] !== undefined);
  if (given.length > 0) {
    throw new UsageError(`${given.map((f) => `--${f}`).join(', ')} ${given.length > 1 ? 'are' : 'is'} not for ${type} targets`);
  }
}

/** Reads a --private-key-file (its text is sent once to the API and never printed). */
function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --private-key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * The secrets of an ssh add/update: the password from stdin, or the private key from its file with, when the key is
 * encrypted, its passphrase from stdin.
 */
export async function sshSecrets(values: SshFlags, io: Io): Promise<Record<string, string>> {
  if (values['password-stdin'] && values['private-key-file'] !== undefined) {
    throw new UsageError('--password-stdin and --private-key-file exclude each other (the passphrase of an encrypted key is read from stdin)');
  }
  if (values['password-stdin']) return { password: await readPassword(io) };
  const file = values['private-key-file'];
  if (file === undefined) return {};
  const privateKey = readKeyFile(file);
  if (!needsPassphrase(privateKey)) return { privateKey };
  if (io.stdinIsTTY) io.stderr(`Passphrase for ${file} (end with Ctrl-D): `);
  const passphrase = (await io.readStdin()).replace(/\r?\n$/, '');
  if (passphrase === '') throw new UsageError(`${file} is encrypted: give its passphrase on standard input`);
  return { privateKey, passphrase };
}

/** The body of `POST /api/targets` for an ssh target (secrets added by the caller). */
export function sshAddBody(name: string, values: SshFlags): Record<string, unknown> {
  return {
    name, type: 'ssh',
    host: required(values.host, 'host'),
    port: values.port === undefined ? 22 : parsePort(values.port),
    user: required(values.user, 'user'),
    ...(values['host-key-fingerprint'] !== undefined ? { hostKeyFingerprint: values['host-key-fingerprint'] } : {}),
    ...(values.label ? { labels: parseLabels(values.label) } : {}),
  };
}

/** The words after `added`/`updated` for an ssh target: where it is and which secret was stored, never the secret. */
export function sshSummary(t: { user: string; host: string; port: number; hostKeyFingerprint?: string | null },
  stored: string): string {
  const pin = t.hostKeyFingerprint ? `host key ${t.hostKeyFingerprint}` : 'host key recorded at first connection';
  return `${t.user}@${t.host}:${t.port}, ssh, ${pin}${stored}`;
}
