/**
 * Keeps the upstream session reading statements exactly as Warden does. Warden parses every statement with
 * standard_conforming_strings on and reads its bytes as UTF-8 (src/analysis/sql/settings.ts pins both and refuses
 * every statement that would change them). The server can still be told otherwise in ways no statement Warden
 * sees reveals: role or database defaults, a login event trigger, a function or procedure that calls set_config,
 * a trigger fired by a write. So the server's own word is checked: the ParameterStatus values at upstream login,
 * and every ParameterStatus during the session; a session whose server reports another value ends (fail closed).
 *
 * Pipelining: a statement A that changes a setting at run time and a statement B sent right behind it would have
 * B judged before A's ParameterStatus arrives (PostgreSQL 14+ reports changed settings just before ReadyForQuery).
 * Only text whose reading could depend on these settings is at risk: a backslash (standard_conforming_strings)
 * or a non-ASCII character (client_encoding; every byte a multibyte character of any PostgreSQL encoding can
 * swallow is preceded by a non-ASCII byte). Such a statement is judged only once the upstream has answered
 * everything before it with ReadyForQuery (settingsBarrier); inside an extended-protocol batch that already bound
 * or executed something since its last Sync, the server will only report a change at that Sync, so Warden cannot
 * know the settings and refuses the statement (the caller can send a Sync first). Pure: no I/O.
 */
import { PINNED_SETTINGS } from '../../analysis/sql/settings.js';
import { WardenError } from '../../errors.js';

/** Why a server-reported setting breaks the pin, or undefined when it keeps it (or is not pinned). */
export function reportedSettingRefusal(name: string, value: string): string | undefined {
  const pinned = PINNED_SETTINGS[name.toLowerCase()];
  if (pinned === undefined || value === pinned) return undefined;
  return `the server reports ${name} = "${value}", but Warden reads every statement with ${name} = ${pinned}; `
    + 'the session was ended so that no statement is judged differently from how the server reads it';
}

/** Checks the ParameterStatus values of an upstream login: every pinned setting present and at its pinned value. */
export function checkStartupSettings(parameters: Record<string, string>): void {
  for (const [name, pinned] of Object.entries(PINNED_SETTINGS)) {
    const value = parameters[name];
    const refusal = value === undefined ? `the server did not report ${name}; Warden needs it to be ${pinned}`
      : reportedSettingRefusal(name, value);
    if (refusal !== undefined) throw new WardenError('WARDEN_ERR_FORBIDDEN', refusal);
  }
}

/** True when a statement text could be read differently under other lexing settings (see the module comment). */
export function dependsOnSettings(text: string): boolean {
  return /[\\\u0080-\uffff]/.test(text);
}

/** What settingsBarrier needs to know about the upstream. */
export interface UpstreamState {
  /** Everything forwarded has been answered (for simple queries and Syncs: with ReadyForQuery). */
  idle: boolean;
  /** A Bind or Execute was forwarded since the last Sync: code may have run whose setting changes are unreported. */
  ranSinceSync: boolean;
}

/**
 * Whether a statement may be judged now: 'now' (no risk, or the upstream answered everything, so every
 * ParameterStatus it sent has been checked and nothing ran since), 'wait' (judge it once the upstream is idle), or
 * 'refuse' (inside a batch that ran something since its Sync: the settings it will be read under cannot be known
 * before that Sync, which comes after it).
 */
export function settingsBarrier(text: string, upstream: UpstreamState): 'now' | 'wait' | 'refuse' {
  if (!dependsOnSettings(text)) return 'now';
  if (upstream.ranSinceSync) return 'refuse';
  return upstream.idle ? 'now' : 'wait';
}

/** The message for a statement refused by settingsBarrier. */
export const BARRIER_REFUSAL = 'Warden cannot judge this statement here: it contains a backslash or a non-ASCII '
  + 'character, and an earlier statement of the same pipeline, not yet synchronised, may have changed how the '
  + 'server reads such text; send a Sync before it';
