/**
 * Key decoding for the line editor: which key a run of input bytes is (a UTF-8 character, a control key, an escape
 * sequence) and how many bytes it takes, or that more bytes are needed. Knows the bytes xterm-compatible terminals
 * send for readline's default emacs bindings and nothing about the line itself. Pure: no state, no I/O.
 */

/** A key read from the input. */
export type Key =
  | { kind: 'char'; text: string; valid: boolean }
  | { kind: 'ctrl'; code: number }
  | { kind: 'meta'; code: number }
  | { kind: 'csi'; params: string; final: string }
  | { kind: 'ss3'; final: string };

/** Longest escape sequence decoded; a longer one is cut there and counts as an unknown key. */
export const MAX_ESCAPE = 32;

const ESC = 0x1b;
const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The length of the UTF-8 sequence a lead byte starts (1 for a byte that cannot start one: it is read alone). */
function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/**
 * The key at data[i] and its length in bytes, or null when the bytes there are only the start of a key (an escape
 * sequence or a UTF-8 character cut by the transport): the caller keeps them and asks again with more.
 */
export function readKey(data: Uint8Array, i: number): { key: Key; length: number } | null {
  const c = data[i];
  if (c === ESC) return readEscape(data, i);
  if (c < 0x20 || c === 0x7f) return { key: { kind: 'ctrl', code: c }, length: 1 };
  if (c < 0x80) return { key: { kind: 'char', text: String.fromCharCode(c), valid: true }, length: 1 };
  return readUtf8(data, i);
}

/** One UTF-8 character (ASCII controls too, as text: Ctrl-V inserts them); an invalid sequence gives U+FFFD for its first byte, marked invalid. */
export function readUtf8(data: Uint8Array, i: number): { key: Key; length: number } | null {
  if (data[i] < 0x80) return { key: { kind: 'char', text: String.fromCharCode(data[i]), valid: true }, length: 1 };
  const want = utf8Length(data[i]);
  let n = 1;
  while (n < want && i + n < data.length && (data[i + n] & 0xc0) === 0x80) n++;
  if (n < want && i + n >= data.length) return null; // cut by the transport: wait for the rest
  if (n === want && want > 1) {
    try {
      return { key: { kind: 'char', text: FATAL_UTF8.decode(data.subarray(i, i + n)), valid: true }, length: n };
    } catch {
      // An overlong or surrogate form: invalid, like a stray byte.
    }
  }
  return { key: { kind: 'char', text: '\ufffd', valid: false }, length: 1 };
}

function readEscape(data: Uint8Array, i: number): { key: Key; length: number } | null {
  if (i + 1 >= data.length) return null;
  const second = data[i + 1];
  if (second === 0x5b) return readCsi(data, i);
  if (second === 0x4f) {
    if (i + 2 >= data.length) return null;
    return { key: { kind: 'ss3', final: String.fromCharCode(data[i + 2]) }, length: 3 };
  }
  return { key: { kind: 'meta', code: second }, length: 2 };
}

/** ESC [ parameters (0x30-0x3F) intermediates (0x20-0x2F) final (0x40-0x7E). */
function readCsi(data: Uint8Array, i: number): { key: Key; length: number } | null {
  let j = i + 2;
  while (j < data.length && j - i < MAX_ESCAPE) {
    const c = data[j];
    if (c >= 0x40 && c <= 0x7e) {
      const params = Buffer.from(data.subarray(i + 2, j)).toString('latin1');
      return { key: { kind: 'csi', params, final: String.fromCharCode(c) }, length: j - i + 1 };
    }
    if (c < 0x20 || c > 0x3f) {
      // Not a well-formed CSI: an unknown key made of what was read so far (the odd byte is read next).
      return { key: { kind: 'csi', params: '\u0000', final: '' }, length: j - i };
    }
    j++;
  }
  if (j - i >= MAX_ESCAPE) return { key: { kind: 'csi', params: '\u0000', final: '' }, length: j - i };
  return null;
}
