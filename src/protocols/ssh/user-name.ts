/**
 * The SSH user name carries both the Warden user and the target, because SSH has no other field for it:
 * `alice:web-1` (Warpgate's convention) or, for tools whose own syntax takes the colon (scp and rsync read
 * `host:path`), `alice@web-1` (`scp file alice@web-1@gateway:/tmp/`: OpenSSH, scp, sftp and rsync split the user from
 * the host at the LAST `@`). Target names hold neither `:` nor `@`, so the last of either separates them; the user part
 * may hold `@` (an e-mail-like OIDC name). Pure.
 */
import { WardenError } from '../../errors.js';

/** A caller's SSH user name, split. */
export interface SshUserName {
  user: string;
  target: string;
}

/** Splits `user:target` or `user@target`; WARDEN_ERR_UNAUTHENTICATED when the name has neither form. */
export function parseSshUserName(name: string): SshUserName {
  const at = Math.max(name.lastIndexOf(':'), name.lastIndexOf('@'));
  const user = at > 0 ? name.slice(0, at) : '';
  const target = at > 0 ? name.slice(at + 1) : '';
  if (user === '' || target === '') {
    throw new WardenError('WARDEN_ERR_UNAUTHENTICATED',
      `log in as USER:TARGET (or USER@TARGET), e.g. ssh -p 2222 alice:web-1@gateway; "${printable(name)}" names no target`);
  }
  return { user, target };
}

/** A user name as it may appear in a message: control characters replaced, length capped. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 128);
}
