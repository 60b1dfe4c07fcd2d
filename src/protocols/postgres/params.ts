/**
 * Which startup parameters a caller may pass through Warden to the upstream. Startup parameters set server
 * settings before any statement runs, so they bypass statement-level checks: `options=-c role=admin` would change
 * identity with no SQL at all. Only settings that shape formatting and timeouts pass; anything else refuses the
 * connection with a clear message (fail closed). Pure.
 *
 * Two settings decide how the server reads statement text and are pinned (src/analysis/sql/settings.ts):
 * standard_conforming_strings (on) and client_encoding (UTF8). A caller may ask for their pinned values (any
 * spelling) and nothing else, as a parameter or in `options`; whatever it asked, Warden sends the pinned values at
 * upstream login, which also overrides role and database defaults (a startup value outranks them).
 * `SQL_ASCII`, which libpq sends from a C locale, is taken as UTF8: on a UTF8 database both mean the same bytes.
 */
import { PINNED_SETTINGS, isPinnedSetting, keepsPin } from '../../analysis/sql/settings.js';
import { WardenError } from '../../errors.js';

/** Settings a caller may choose at startup (lower case, as PostgreSQL compares them). */
const ALLOWED_SETTINGS = new Set([
  'application_name', 'client_encoding', 'datestyle', 'timezone', 'intervalstyle', 'extra_float_digits',
  'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'bytea_output',
  'standard_conforming_strings', 'client_min_messages', 'default_transaction_isolation', 'geqo', 'jit',
  'default_transaction_read_only', 'work_mem',
]);

/** Parameters that name the session rather than configure it; Warden consumes them itself. */
const CONSUMED = new Set(['user', 'database']);

/**
 * Splits a caller's startup parameters into those forwarded upstream and the `_pq_.` protocol extensions, which
 * Warden does not support and reports in NegotiateProtocolVersion. Throws WARDEN_ERR_UNSUPPORTED for anything not
 * allowed.
 */
export function filterStartupParams(params: Record<string, string>): { forward: Record<string, string>; extensions: string[] } {
  const forward: Record<string, string> = {};
  const extensions: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    const key = name.toLowerCase();
    if (CONSUMED.has(key)) continue;
    if (key.startsWith('_pq_.')) extensions.push(name);
    else if (key === 'replication') {
      if (!['false', 'off', 'no', '0'].includes(value.toLowerCase())) {
        throw new WardenError('WARDEN_ERR_UNSUPPORTED', 'replication connections are not supported through Warden');
      }
    } else if (key === 'options') checkOptions(value);
    else if (!ALLOWED_SETTINGS.has(key)) {
      throw new WardenError('WARDEN_ERR_UNSUPPORTED', `startup parameter "${name}" is not allowed through Warden`);
    }
    if (isPinnedSetting(key)) checkPinned(key, value);
    else if (!key.startsWith('_pq_.') && key !== 'replication') forward[name] = value;
  }
  return { forward: { ...forward, ...PINNED_SETTINGS }, extensions };
}

/** Refuses a value other than the pinned one (SQL_ASCII counts as UTF8, see the module comment). */
function checkPinned(name: string, value: string): void {
  if (keepsPin(name, value)) return;
  if (name === 'client_encoding' && value.replace(/[^a-z0-9]/gi, '').toLowerCase() === 'sqlascii') return;
  const hint = name === 'client_encoding' ? ' (set PGCLIENTENCODING=UTF8)' : '';
  throw new WardenError('WARDEN_ERR_UNSUPPORTED', `${name} "${value}" is not supported through Warden: its statement `
    + `analysis and masking need ${name} ${PINNED_SETTINGS[name]}; this session's is "${value}"${hint}`);
}

/** Accepts `options` only when it holds nothing but `-c name=value` (or `--name=value`) for allowed settings. */
function checkOptions(options: string): void {
  // The server unescapes `\ ` and `\x` in options: a backslash could hide a word boundary or a name from this check.
  if (options.includes('\\')) {
    throw new WardenError('WARDEN_ERR_UNSUPPORTED', 'startup options with a backslash are not allowed through Warden');
  }
  const words = options.trim().split(/\s+/).filter((w) => w.length > 0);
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined;
    if (words[i] === '-c') setting = words[++i];
    else if (words[i].startsWith('-c')) setting = words[i].slice(2);
    else if (words[i].startsWith('--')) setting = words[i].slice(2);
    const name = setting?.split('=')[0]?.toLowerCase().replace(/-/g, '_');
    if (!setting || !setting.includes('=') || !name || !ALLOWED_SETTINGS.has(name)) {
      throw new WardenError('WARDEN_ERR_UNSUPPORTED', `startup options "${options}" are not allowed through Warden: only -c for ${[...ALLOWED_SETTINGS].slice(0, 4).join(', ')}, ...`);
    }
    if (isPinnedSetting(name)) checkPinned(name, setting.slice(setting.indexOf('=') + 1));
  }
}
