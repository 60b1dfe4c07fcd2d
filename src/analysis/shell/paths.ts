/**
 * Paths named in shell commands: which arguments look like paths, lexical normalisation (`//`, `/./`, `..`; `~`
 * kept as `~`), resolution against the working directory the analyser tracks, and where a path lies: inside a
 * temporary directory, on a system path (writing there is destructive) or on a path that grants privilege
 * (authorized_keys, sudoers, account files, cron, PAM, ...). Patterns (globs) are judged by every path they could
 * match. Pure; never touches the file system, so symlinks are not followed (documented as best effort).
 */

/** The working directory: absolute or `~`-rooted; relative to the start directory (`''` is the start); unknown. */
export type Cwd = string | null;

/** Temporary directories: removing things strictly inside them is not destructive. */
const TEMP_ROOTS = ['/tmp', '/var/tmp'];

/** Writing anywhere under these (or to `/` itself) is destructive. */
const SYSTEM_ROOTS = [
  '/etc', '/boot', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/var/lib', '/var/log',
  '/var/spool', '/root', '/dev', '/proc', '/sys', '~/.ssh',
];

/** Devices a redirection may name without writing anything lasting. */
const HARMLESS_DEVICES = /^\/dev\/(null|zero|stdout|stderr|stdin|tty|fd\/\d+)$/;

/** Writing these (or under these) can grant privilege: keys, accounts, sudo, PAM, cron and what root runs. */
const PRIVILEGE_ROOTS = [
  '/etc/sudoers', '/etc/sudoers.d', '/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/ssh',
  '/etc/pam.d', '/etc/security', '/etc/ld.so.preload', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/crontab',
  '/etc/cron.d', '/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly', '/var/spool/cron',
  '/etc/systemd', '/etc/profile', '/etc/profile.d', '/etc/bash.bashrc', '/etc/environment', '/etc/doas.conf',
  '/root', '~/.ssh',
];

/** File names that grant login wherever they are. */
const PRIVILEGE_NAMES = /^(authorized_keys2?|\.rhosts|\.shosts|hosts\.equiv|sudoers)$/;

/**
 * Whether an argument value names a path: absolute, `./`, `../`, `~`, a dot-file, or containing `/`; not an option,
 * a URL or a remote `host:path`. For `--opt=value` and `key=value` (dd's `of=`), the part after `=`.
 */
export function pathOf(value: string): string | null {
  let v = value;
  const eq = v.indexOf('=');
  if (eq > 0 && (v.startsWith('-') || /^[A-Za-z_]\w*=/.test(v))) v = v.slice(eq + 1);
  else if (v.startsWith('-')) return null;
  if (v === '' || v.includes('://') || /^[\w.@-]+:/.test(v)) return null;
  if (v.startsWith('/') || v.startsWith('~') || v.startsWith('.') || v.includes('/')) return v;
  return null;
}

/** Lexical normalisation: collapses `//` and `/./`, resolves `..`; keeps a leading `~` or `..` it cannot resolve. */
export function normalizePath(path: string): string {
  const absolute = path.startsWith('/');
  const parts = path.split('/');
  const out: string[] = [];
  const floor = !absolute && parts[0].startsWith('~') ? 1 : 0;
  for (const [i, part] of parts.entries()) {
    if (part === '' || part === '.') continue;
    if (i === 0 && floor === 1) {
      out.push(part);
      continue;
    }
    if (part === '..') {
      if (out.length > floor && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (absolute) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** `path` resolved against `cwd`: absolute, `~`-rooted or relative to the start directory; null when unknown. */
export function resolvePath(path: string, cwd: Cwd): string | null {
  if (path.startsWith('/') || path.startsWith('~')) return normalizePath(path);
  if (cwd === null) return null;
  return normalizePath(cwd === '' ? path : `${cwd}/${path}`);
}

/** A relative path that climbs above the start directory, or a `~` path above home: where it lands is unknown. */
export function escapes(path: string): boolean {
  return path === '..' || path.startsWith('../') || /^~[^/]*\/\.\.(\/|$)/.test(path);
}

/** bash's network redirections: `> /dev/tcp/HOST/PORT` opens a connection (no such file exists). */
export function socketPath(path: string): boolean {
  return /^\/dev\/(tcp|udp)\//.test(path);
}

/** A device such as /dev/null that a redirection may write without lasting effect. */
export function harmlessDevice(path: string): boolean {
  return HARMLESS_DEVICES.test(path);
}

/** Strictly inside /tmp or /var/tmp (the directory itself is not). A pattern qualifies when all it matches does. */
export function insideTemp(path: string, pattern: boolean): boolean {
  const fixed = pattern ? fixedPrefix(path) : { dir: path, rest: [] as string[] };
  // A pattern segment starting with '.' (or a bracket) could match '..' and climb out.
  if (fixed.rest.some((seg) => seg.startsWith('.') || seg.startsWith('['))) return false;
  return TEMP_ROOTS.some((root) =>
    pattern ? under(fixed.dir, root) : fixed.dir.startsWith(root + '/'),
  );
}

/** Writing here is destructive: `/`, a system directory or anything under one (a pattern that may match one). */
export function systemPath(path: string, pattern: boolean): boolean {
  if (harmlessDevice(path)) return false;
  if (path === '/') return true;
  return matchesRoots(path, pattern, SYSTEM_ROOTS);
}

/**
 * Writing here may grant privilege: PRIVILEGE_ROOTS, any `.ssh` directory, a file named like authorized_keys;
 * relative `.ssh/...` counts (from the start directory, usually home). A pattern counts when it may match one.
 */
export function privilegePath(path: string, pattern: boolean): boolean {
  const segments = path.split('/');
  const name = segments[segments.length - 1];
  const sshDir = (seg: string): boolean => seg === '.ssh' || (pattern && seg.startsWith('.') && globRegExp(seg).test('.ssh'));
  if (segments.some(sshDir)) return true;
  if (!pattern && PRIVILEGE_NAMES.test(name)) return true;
  if (pattern && !/[*?[{]/.test(name) && PRIVILEGE_NAMES.test(name)) return true;
  const asHome = path === '.ssh' || path.startsWith('.ssh/') ? `~/${path}` : path;
  return matchesRoots(asHome, pattern, PRIVILEGE_ROOTS);
}

function matchesRoots(path: string, pattern: boolean, roots: readonly string[]): boolean {
  if (!pattern) return roots.some((root) => under(path, root));
  // A pattern may match a root when its fixed directory is under the root or is an ancestor of it.
  const { dir } = fixedPrefix(path);
  if (dir === '/') return true;
  return roots.some((root) => under(dir, root) || root.startsWith(dir + '/'));
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(root + '/');
}

/** The directory before the first segment with a pattern character, and the segments from there on. */
function fixedPrefix(path: string): { dir: string; rest: string[] } {
  const parts = path.split('/');
  const first = parts.findIndex((seg) => /[*?[{]/.test(seg));
  if (first < 0) return { dir: path, rest: [] };
  const dir = parts.slice(0, first).join('/');
  return { dir: dir === '' && path.startsWith('/') ? '/' : dir, rest: parts.slice(first) };
}

/** A glob segment as a regular expression (`*`, `?`, `[...]`; braces as alternatives). */
function globRegExp(glob: string): RegExp {
  let out = '';
  for (const c of glob) {
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[' || c === ']') out += c;
    else if (c === '{') out += '(';
    else if (c === '}') out += ')';
    else if (c === ',') out += '|';
    else out += c.replace(/[\\^$.|+()]/g, '\\$&');
  }
  try {
    return new RegExp(`^${out}$`);
  } catch {
    return /^/; // A pattern we cannot read may match anything.
  }
}
