/**
 * The credentials `warden login` keeps: the Warden URL, the provider, the short-lived Warden token and the identity
 * provider's refresh token, in `$XDG_CONFIG_HOME/warden/credentials.json` (default `~/.config/warden`), the file
 * 0600 and its directory 0700, written atomically. Refreshing is serialised between processes by a lock file, because
 * providers rotate refresh tokens and treat the reuse of an old one as theft (the whole grant is revoked).
 * It must never print a token; reading is synchronous so the CLI's connection lookup stays synchronous.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, type Io } from './common.js';

/** Refresh the Warden token when fewer than this many milliseconds of it remain. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 90_000;

/** What a login leaves behind. */
export interface StoredCredentials {
  version: 1;
  /** The Warden control API the token is for. */
  url: string;
  provider: string;
  /** The provider's issuer and the public client `warden login` used, for refreshing without asking Warden. */
  issuer: string;
  clientId: string;
  scopes: string[];
  token: string;
  expiresAt: string;
  user: string;
  groups: string[];
  /** The provider's refresh token; null when it issued none (then an expired token needs a new login). */
  refreshToken: string | null;
}

/** The directory of the CLI's configuration. */
export function configDir(io: Pick<Io, 'env'>): string {
  const base = io.env.XDG_CONFIG_HOME || join(io.env.HOME || homedir(), '.config');
  return join(base, 'warden');
}

/** The credentials file. */
export function credentialsPath(io: Pick<Io, 'env'>): string {
  return join(configDir(io), 'credentials.json');
}

/** The stored credentials, or undefined when there are none (or the file is not ours to understand). */
export function readCredentials(io: Pick<Io, 'env'>): StoredCredentials | undefined {
  const file = credentialsPath(io);
  if (!existsSync(file)) return undefined;
  let parsed: Partial<StoredCredentials>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoredCredentials>;
  } catch {
    throw new CliError(`cannot read ${file}: run \`warden login\` again (or \`warden logout\` to remove it)`);
  }
  if (parsed.version !== 1 || typeof parsed.token !== 'string' || typeof parsed.url !== 'string'
    || typeof parsed.expiresAt !== 'string') {
    throw new CliError(`${file} is not a credentials file of this Warden: run \`warden login\` again`);
  }
  return parsed as StoredCredentials;
}

/** Writes the credentials atomically (temp file, then rename), 0600 in a 0700 directory. */
export function writeCredentials(io: Pick<Io, 'env'>, credentials: StoredCredentials): void {
  const dir = configDir(io);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode does not apply to a directory that already existed.
  chmodSync(dir, 0o700);
  const file = credentialsPath(io);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

/** Removes the credentials; false when there were none. */
export function deleteCredentials(io: Pick<Io, 'env'>): boolean {
  const file = credentialsPath(io);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}

/** True when the token ends within the refresh margin (or already did). */
export function needsRefresh(credentials: Pick<StoredCredentials, 'expiresAt'>, now = Date.now()): boolean {
  const expires = Date.parse(credentials.expiresAt);
  return !Number.isFinite(expires) || expires - now < REFRESH_MARGIN_MS;
}

/**
 * Runs `body` holding the credentials lock (a file created exclusively next to the credentials). Waits for another
 * process's refresh to finish; a lock older than a minute is left over from a crash and is taken over.
 */
export async function withCredentialsLock<T>(io: Pick<Io, 'env'>, body: () => Promise<T>): Promise<T> {
  const dir = configDir(io);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = `${credentialsPath(io)}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released between our attempt and the stat
      }
      if (age > LOCK_STALE_MS) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new CliError(`another warden process holds ${lock}; remove it if none is running`);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { force: true });
  }
}
