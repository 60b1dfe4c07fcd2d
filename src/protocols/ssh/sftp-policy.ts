/**
 * What an SFTP request does, as the policy sees it. Opening the `sftp` subsystem is judged as `read` and `write`
 * with no path; each request that names a path is then judged on its own, through the shell analyser, as the shell
 * command that would do the same (`remove ~/.ssh/authorized_keys` is judged like `rm -- '~/.ssh/authorized_keys'`),
 * so the path rules (privilege paths, system paths, `paths` match keys) hold for SFTP exactly as for exec: an
 * upload to `authorized_keys` is `privilege` under a policy that denies it, whether it comes by `scp`, `sftp` or exec.
 * - open for writing (write, append, creat or trunc flags): like `tee`; open for reading: like `cat`;
 * - remove: `rm`; rmdir: `rmdir`; mkdir: `mkdir`; rename and posix-rename: `mv`; symlink and hardlink: both paths
 *   are written (a link made to `~/.ssh/authorized_keys` is a way to write it later);
 * - setstat and lsetstat: `chmod` with the mode (setuid bits are privilege) and `chown` when owners change; fsetstat
 *   names a handle, not a path: its path is not known here, so it is judged as a change to an unknown path;
 * - other extensions (copy-data, ...) and paths that are not UTF-8: unknown.
 * - opendir: `ls`. Requests that only read metadata (stat, lstat, realpath, readlink) or use an already judged
 *   handle (read, write, readdir, close) need no judgment. Pure: no I/O.
 */
import type { SftpAttrs, SftpPacket } from './sftp-codec.js';

/** An SFTP request to judge: a text for records and approvers, and the equivalent shell command for the analyser. */
export interface SftpJudgment {
  text: string;
  shell: string;
}

/** A path as one shell word: single-quoted (a `~` at the start kept outside, so it means the home directory). */
function word(path: string): string {
  if (path.includes('\ufffd')) return '"$SFTP_PATH_NOT_UTF8"';
  const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  if (path === '~') return '~';
  if (path.startsWith('~/')) return `~/${quote(path.slice(2))}`;
  return quote(path);
}

/** chmod/chown commands for attribute changes of `target` (a shell word). */
function attributeChange(attrs: SftpAttrs, target: string): string {
  const parts: string[] = [];
  if (attrs.permissions !== undefined) parts.push(`chmod ${(attrs.permissions & 0o7777).toString(8)} -- ${target}`);
  if (attrs.uid !== undefined || attrs.gid !== undefined) parts.push(`chown ${attrs.uid ?? ''}:${attrs.gid ?? ''} -- ${target}`);
  return parts.join('; ');
}

/** The judgment an SFTP request needs, or undefined when it needs none (see the module comment). */
export function sftpJudgment(packet: SftpPacket): SftpJudgment | undefined {
  const of = (shell: string, ...paths: string[]): SftpJudgment => ({ text: `sftp ${packet.type} ${paths.join(' ')}`.trim(), shell });
  switch (packet.type) {
    case 'open': {
      const writes = packet.flags.some((f) => f === 'write' || f === 'append' || f === 'creat' || f === 'trunc');
      const path = word(packet.path);
      // A new file's mode and owner: only setuid/setgid bits and owners can add privilege.
      const special = packet.attrs.permissions !== undefined && (packet.attrs.permissions & 0o6000) !== 0;
      const change = attributeChange({ ...packet.attrs, permissions: special ? packet.attrs.permissions : undefined }, path);
      return { text: `sftp open ${packet.path} (${packet.flags.join(',')})`,
        shell: [writes ? `tee -- ${path}` : `cat -- ${path}`, change].filter(Boolean).join('; ') };
    }
    case 'opendir': return of(`ls -- ${word(packet.path)}`, packet.path);
    case 'remove': return of(`rm -- ${word(packet.path)}`, packet.path);
    case 'rmdir': return of(`rmdir -- ${word(packet.path)}`, packet.path);
    case 'mkdir': return of(`mkdir -- ${word(packet.path)}`, packet.path);
    case 'setstat': return of(attributeChange(packet.attrs, word(packet.path)) || ':', packet.path);
    case 'fsetstat': return { text: `sftp fsetstat (handle)`, shell: attributeChange(packet.attrs, '"$SFTP_HANDLE_PATH"') || ':' };
    case 'rename': return of(`mv -- ${word(packet.path)} ${word(packet.target)}`, packet.path, packet.target);
    case 'symlink': return of(`tee -- ${word(packet.path)} ${word(packet.target)}`, packet.path, packet.target);
    case 'extended': {
      const text = `sftp ${packet.request} ${packet.path ?? ''} ${packet.target ?? ''}`.trim();
      if (packet.request === 'posix-rename@openssh.com') return { text, shell: `mv -- ${word(packet.path!)} ${word(packet.target!)}` };
      if (packet.request === 'hardlink@openssh.com') return { text, shell: `tee -- ${word(packet.path!)} ${word(packet.target!)}` };
      if (packet.request === 'lsetstat@openssh.com') return { text, shell: `chmod "$SFTP_MODE" -- ${word(packet.path!)}` };
      if (packet.request === 'statvfs@openssh.com' || packet.request === 'fstatvfs@openssh.com'
        || packet.request === 'expand-path@openssh.com' || packet.request === 'limits@openssh.com') return undefined;
      return { text, shell: 'eval "$SFTP_EXTENSION"' };
    }
    default:
      return undefined;
  }
}

/** An SFTP STATUS reply (permission denied) for request `id`, with `message`. */
export function sftpDenied(id: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 512), 'utf8');
  const body = Buffer.alloc(1 + 4 + 4 + 4 + text.length + 4);
  let at = 0;
  at = body.writeUInt8(101, at);
  at = body.writeUInt32BE(id >>> 0, at);
  at = body.writeUInt32BE(3, at);
  at = body.writeUInt32BE(text.length, at);
  at += text.copy(body, at);
  body.writeUInt32BE(0, at);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}
