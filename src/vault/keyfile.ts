/**
 * Creation of small secret files (the vault key, the token signing key) under the data directory: created once,
 * mode 0600 inside a 0700 directory, written completely before they become visible, and never overwritten, so
 * two gateways starting at once on the same directory agree on one key. Used by vault/ and identity/.
 * This module must never log or return anything but the file's text to its caller.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';

/** What `readOrCreateSecretFile` found or made. */
export interface SecretFile {
  text: string;
  /** True when this call created the file. */
  created: boolean;
}

function hasCode(err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code;
}

/**
 * Returns the text of `file`, creating it with `make()` when it does not exist. The new file is written and
 * fsynced under a temporary name, then hard-linked into place: link fails on an existing name, so a concurrent
 * creator can never be overwritten and a crash never leaves a half-written key behind.
 */
export async function readOrCreateSecretFile(file: string, make: () => string | Promise<string>): Promise<SecretFile> {
  try {
    return { text: await readFile(file, 'utf8'), created: false };
  } catch (err) {
    if (!hasCode(err, 'ENOENT')) throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const text = await make();
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, file);
    return { text, created: true };
  } catch (err) {
    // Another process created it between our read and our link: theirs wins, so both use one key.
    if (!hasCode(err, 'EEXIST')) throw err;
    return { text: await readFile(file, 'utf8'), created: false };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
