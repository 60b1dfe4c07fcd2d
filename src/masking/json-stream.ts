/**
 * Streaming masking of a JSON body (HTTP responses of any size): field selectors mask the values they select whole,
 * detectors and patterns scan string values and member names, and every other byte passes exactly as it came
 * (whitespace, number spellings, escapes, key order, duplicate keys).
 *
 * A hand-written byte tokenizer, not @streamparser/json's: masking needs each token's exact raw bytes across chunk
 * boundaries (to pass an unmasked value byte for byte and to replace a masked one in place), and that tokenizer
 * hands out parsed values (a number as a JS number, which loses `1e400` or a 20-digit id) and its own buffering; it
 * also runs several times slower than this loop, which mostly scans bytes for a quote. The tokenizer is iterative
 * (an explicit stack, so a deeply nested document cannot overflow the call stack) and holds at most the current
 * token: a string, key or number that must be read is kept until it ends (bounded by MAX_TOKEN_BYTES), anything else
 * is emitted as soon as its chunk has been walked. Memory is flat for a 1 GB array.
 *
 * Masked output stays valid JSON: a selected string, number or boolean becomes a JSON string (`"[REDACTED]"`,
 * `"h_…"`, `"****1234"`), or `null` under the null strategy; a selected `null` stays null; a selected object or array
 * keeps its shape with every scalar inside masked. A string value or member name with a detector match is rewritten
 * as a JSON string of the masked text. Invalid JSON throws (the stream errors and the caller cuts the connection):
 * what follows a syntax error is never passed on unmasked. Member names are decoded (`"\u0065mail"` is `email`)
 * before matching. An empty body (whitespace only) is valid: it holds nothing to mask.
 */
import { ChunkOutput } from './chunk-output.js';
import { KeyCache } from './json-key-cache.js';
import { countHit, mayMatch, maskCounted, type HttpMaskSpec } from './json-spec.js';
import { SelectorMatcher, type MatchState } from './json-selectors.js';
import { maskValue } from './strategies.js';

/** Largest single token (string, member name, number) Warden reads to mask: larger fails closed. */
export const MAX_TOKEN_BYTES = 16 * 1024 * 1024;
/** Deepest nesting accepted: the stack stays bounded too. */
export const MAX_DEPTH = 100_000;

/** A body that is not valid JSON, or that Warden cannot mask within its bounds. */
export class JsonMaskError extends Error {}

// What the tokenizer expects next, between tokens.
const M_VALUE = 0;
const M_VALUE_OR_CLOSE = 1;
const M_KEY = 2;
const M_KEY_OR_CLOSE = 3;
const M_COLON = 4;
const M_AFTER = 5;
const M_DONE = 6;
// Inside a token.
const T_STRING = 7;
const T_NUMBER = 8;
const T_LITERAL = 9;

const OBJECT = 0;
const ARRAY = 1;

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;

/**
 * The JSON number grammar as a table: NUMBER_NEXT[state << 8 | byte] is the next state, 0 when the byte ends the
 * number, N_BAD when it is a number byte where none may stand (`01`, `1.e`). States: 0 start, 1 after `-`, 2 a
 * leading 0, 3 integer digits, 4 after `.`, 5 fraction digits, 6 after `e`, 7 after the exponent's sign, 8 exponent
 * digits. NUMBER_END marks the states a number may end in.
 */
const N_BAD = 15;
const NUMBER_NEXT = (() => {
  const table = new Uint8Array(9 * 256);
  const digits = '0123456789';
  const set = (state: number, chars: string, next: number): void => {
    for (const ch of chars) table[(state << 8) | ch.charCodeAt(0)] = next;
  };
  for (let state = 0; state < 9; state++) set(state, '0123456789+-.eE', N_BAD);
  set(0, '-', 1);
  set(0, '0', 2);
  set(0, '123456789', 3);
  set(1, '0', 2);
  set(1, '123456789', 3);
  set(2, '.', 4);
  set(2, 'eE', 6);
  set(3, digits, 3);
  set(3, '.', 4);
  set(3, 'eE', 6);
  set(4, digits, 5);
  set(5, digits, 5);
  set(5, 'eE', 6);
  set(6, '+-', 7);
  set(6, digits, 8);
  set(7, digits, 8);
  set(8, digits, 8);
  return table;
})();
const NUMBER_END = Uint8Array.from([0, 0, 1, 1, 0, 1, 0, 0, 1]);
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPES[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
/** 1 for the bytes a JSON string may hold as they are: not a quote, a backslash or a control character. */
const PLAIN = new Uint8Array(256).fill(1);
for (let c = 0; c < 0x20; c++) PLAIN[c] = 0;
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;
const LITERALS = ['true', 'false', 'null'].map((w) => Buffer.from(w));

/** Most distinct masked texts whose JSON bytes one body keeps (see JsonMasker.encoded). */
const MAX_ENCODED = 256;

const EMPTY_MATCHER = new SelectorMatcher([]);

/** Options of a JsonMasker. */
export interface JsonMaskerOptions {
  /** Accept several top-level values separated by whitespace (NDJSON, JSON lines). */
  sequence?: boolean;
}

/** Masks one JSON body pushed chunk by chunk; not shared between bodies. */
export class JsonMasker {
  /** Masked values by rule ("policy/rule"). */
  readonly hits: Record<string, number> = {};
  private readonly matcher: SelectorMatcher;
  private mode = M_VALUE;
  // The container stack: kind, match state, whole-mask field (-1 none), scanning field (-1 none), next index.
  private readonly kinds: number[] = [];
  private readonly states: MatchState[] = [];
  private readonly wholes: number[] = [];
  private readonly scans: number[] = [];
  private readonly indexes: number[] = [];
  /** The match state of the member whose name was just read. */
  private memberState: MatchState;
  // The current token.
  private isKey = false;
  private held = false;
  private escapedInToken = false;
  private escape = 0;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private number = '';
  private numberState = 0;
  private readonly out = new ChunkOutput();
  private readonly names = new KeyCache();
  /** encoded's cache: short masked texts and their JSON bytes. */
  private readonly encodings = new Map<string, Buffer>();
  /** constantWhole's encoded outputs by field. */
  private readonly constants: Array<Buffer | undefined> = [];
  private literal = LITERALS[0];
  private literalPos = 0;
  /** The value being read: its whole-mask and scanning fields. */
  private whole = -1;
  private scan = -1;
  /** Some value began (an empty body is valid and masks nothing). */
  started = false;

  constructor(private readonly spec: HttpMaskSpec, private readonly hashKey: Buffer, private readonly options: JsonMaskerOptions = {}) {
    this.matcher = spec.matcher ?? EMPTY_MATCHER;
    this.memberState = this.matcher.root;
  }

  /** Takes a chunk; returns the bytes to emit now. Throws a JsonMaskError when the body is not valid JSON. */
  push(chunk: Buffer): Buffer {
    const out = this.out;
    out.begin(chunk);
    let pass = 0;
    let tokenStart = 0;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const mode = this.mode;
      if (mode === T_STRING) {
        // The hot loop: walk to the closing quote.
        // esc: 0 outside an escape, 1 after a backslash, 5..2 while 4..1 hex digits of \uXXXX are due.
        let esc = this.escape;
        let c = 0;
        for (; i < n; i++) {
          // Most bytes are plain: one table load each, no escape state to carry.
          if (esc === 0) {
            while (i < n && PLAIN[chunk[i]] === 1) i++;
            if (i === n) break;
          }
          c = chunk[i];
          if (esc !== 0) {
            if (esc === 1) {
              if (c === 0x75) esc = 5;
              else if (ESCAPES[c] === 1) esc = 0;
              else throw new JsonMaskError('a bad escape in a JSON string');
            } else if (HEX[c] === 1) esc = esc === 2 ? 0 : esc - 1;
            else throw new JsonMaskError('a bad \\u escape in a JSON string');
          } else if (c === 0x5c) {
            esc = 1;
            this.escapedInToken = true;
          } else if (c === 0x22) break;
          else if (c < 0x20) throw new JsonMaskError('a control character inside a JSON string');
        }
        this.escape = esc;
        if (i === n) break;
        i++;
        if (this.held) {
          const replacement = this.endString(chunk, tokenStart, i);
          if (replacement !== null) {
            out.replace(pass, tokenStart, replacement);
            pass = i;
          }
        }
        this.afterString();
        continue;
      }
      if (mode === T_NUMBER) {
        const from = i;
        let state = this.numberState;
        for (; i < n; i++) {
          const next = NUMBER_NEXT[(state << 8) | chunk[i]];
          if (next === 0) break;
          if (next === N_BAD) throw new JsonMaskError('an invalid JSON number');
          state = next;
        }
        this.numberState = state;
        if (this.held) {
          this.number += chunk.toString('latin1', from, i);
          if (this.number.length > 1024) throw new JsonMaskError('a masked JSON number longer than 1024 characters');
        }
        if (i === n) break;
        const replacement = this.endNumber();
        if (replacement !== null) {
          out.replace(pass, tokenStart, replacement);
          pass = i;
        }
        continue;
      }
      if (mode === T_LITERAL) {
        const word = this.literal;
        while (i < n && this.literalPos < word.length) {
          if (chunk[i] !== word[this.literalPos]) throw new JsonMaskError(`a JSON literal other than true, false or null`);
          i++;
          this.literalPos++;
        }
        if (this.literalPos < word.length) break;
        const replacement = this.endLiteral();
        if (replacement !== null) {
          out.replace(pass, tokenStart, replacement);
          pass = i;
        }
        continue;
      }
      const c = chunk[i];
      if (WS[c] === 1) {
        i++;
        continue;
      }
      const start = this.structural(c);
      if (start === 0) {
        i++;
        continue;
      }
      // A token starts at i. A held one that ends up replaced cuts the pass-through at tokenStart (an unchanged one
      // passes in place), as does one that runs past this chunk.
      tokenStart = i;
      if (start === T_STRING) i++;
    }
    if (this.mode === T_STRING && this.held) {
      this.keepPart(chunk.subarray(tokenStart));
      return out.finish(pass, tokenStart);
    }
    return out.finish(pass, (this.mode === T_NUMBER || this.mode === T_LITERAL) && this.held ? tokenStart : n);
  }

  /** Ends the body: returns the last bytes; throws when the JSON is incomplete. */
  end(): Buffer {
    if (this.mode === T_NUMBER && this.kinds.length === 0) {
      const replacement = this.endNumber();
      return replacement === null ? Buffer.alloc(0) : Buffer.from(replacement);
    }
    if (this.mode !== M_DONE && !(this.mode === M_VALUE && !this.started)) throw new JsonMaskError('the JSON body ended before its end');
    return Buffer.alloc(0);
  }

  private keepPart(part: Buffer): void {
    this.partBytes += part.length;
    if (this.partBytes > MAX_TOKEN_BYTES) throw new JsonMaskError(`a JSON string longer than ${MAX_TOKEN_BYTES} bytes must be masked`);
    if (part.length > 0) this.parts.push(part);
  }

  /**
   * Handles one non-blank byte between tokens. Returns 0 when it was structure (consumed), or the token mode it
   * starts (the byte is then the token's first, and `held` says whether the token must be read before emitting).
   */
  private structural(c: number): number {
    switch (this.mode) {
      case M_VALUE:
      case M_VALUE_OR_CLOSE:
        if (c === 0x5d && this.mode === M_VALUE_OR_CLOSE) return this.close(ARRAY);
        return this.startValue(c);
      case M_KEY_OR_CLOSE:
        if (c === 0x7d) return this.close(OBJECT);
      // falls through
      case M_KEY:
        if (c !== 0x22) throw new JsonMaskError('a JSON object member must start with a quoted name');
        return this.startString(true);
      case M_COLON:
        if (c !== 0x3a) throw new JsonMaskError('a ":" must follow a JSON member name');
        this.mode = M_VALUE;
        return 0;
      case M_AFTER: {
        const top = this.kinds.length - 1;
        const kind = this.kinds[top];
        if (c === 0x2c) {
          if (kind === ARRAY) {
            this.indexes[top]++;
            this.mode = M_VALUE;
          } else this.mode = M_KEY;
          return 0;
        }
        if ((c === 0x7d && kind === OBJECT) || (c === 0x5d && kind === ARRAY)) return this.close(kind);
        throw new JsonMaskError(`an unexpected "${String.fromCharCode(c)}" after a JSON value`);
      }
      case M_DONE:
        if (this.options.sequence) return this.startValue(c);
        throw new JsonMaskError('data after the end of the JSON value');
    }
    throw new JsonMaskError('invalid JSON');
  }

  private close(kind: number): number {
    if (this.kinds[this.kinds.length - 1] !== kind) throw new JsonMaskError('mismatched JSON brackets');
    this.kinds.pop();
    this.states.pop();
    this.wholes.pop();
    this.scans.pop();
    this.indexes.pop();
    this.valueDone();
    return 0;
  }

  private valueDone(): void {
    this.mode = this.kinds.length === 0 ? M_DONE : M_AFTER;
  }

  /** Works out what the value starting with byte `c` gets (its state, whole-mask and scanning fields). */
  private startValue(c: number): number {
    this.started = true;
    const top = this.kinds.length - 1;
    let state: MatchState;
    let whole = -1;
    let scan = -1;
    if (top < 0) state = this.matcher.root;
    else if (this.wholes[top] !== -1) {
      state = this.states[top];
      whole = this.wholes[top];
    } else {
      state = this.kinds[top] === OBJECT ? this.memberState : this.states[top].element(this.indexes[top]);
      scan = this.scans[top];
    }
    if (whole === -1 && state.selected !== -1) {
      if (this.spec.fields[state.selected].content === null) whole = state.selected;
      else scan = state.selected;
    }
    this.whole = whole;
    this.scan = scan;
    if (c === 0x7b || c === 0x5b) {
      if (this.kinds.length >= MAX_DEPTH) throw new JsonMaskError(`JSON nested deeper than ${MAX_DEPTH} levels`);
      this.kinds.push(c === 0x7b ? OBJECT : ARRAY);
      this.states.push(state);
      this.wholes.push(whole);
      this.scans.push(scan);
      this.indexes.push(0);
      this.mode = c === 0x7b ? M_KEY_OR_CLOSE : M_VALUE_OR_CLOSE;
      this.held = false;
      return 0;
    }
    if (c === 0x22) return this.startString(false);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.mode = T_NUMBER;
      this.number = '';
      this.numberState = 0;
      this.held = whole !== -1;
      return T_NUMBER;
    }
    const literal = c === 0x74 ? 0 : c === 0x66 ? 1 : c === 0x6e ? 2 : -1;
    if (literal === -1) throw new JsonMaskError(`an unexpected "${String.fromCharCode(c)}" where a JSON value belongs`);
    this.mode = T_LITERAL;
    this.literal = LITERALS[literal];
    this.literalPos = 0;
    // null stays null under every strategy: nothing to hide.
    this.held = whole !== -1 && literal !== 2;
    return T_LITERAL;
  }

  private startString(isKey: boolean): number {
    this.mode = T_STRING;
    this.isKey = isKey;
    this.escapedInToken = false;
    this.escape = 0;
    if (this.parts.length > 0) this.parts = [];
    this.partBytes = 0;
    if (isKey) {
      const top = this.kinds.length - 1;
      this.scan = this.scans[top];
      this.held = this.spec.content !== null || this.scan !== -1 || (this.wholes[top] === -1 && this.states[top].keyDependent);
    } else this.held = this.whole !== -1 || this.scan !== -1 || this.spec.content !== null;
    return T_STRING;
  }

  /** After a string: a member name goes on to its colon, a value is done. */
  private afterString(): void {
    if (this.isKey) {
      const top = this.kinds.length - 1;
      // A held name has set memberState; an unheld one needs none (no selector depends on it).
      if (!this.held) this.memberState = this.states[top].member('');
      this.mode = M_COLON;
    } else this.valueDone();
  }

  /** The replacement of the held string ending at chunk[end) (its closing quote included), or null to pass it. */
  private endString(chunk: Buffer, tokenStart: number, end: number): Buffer | string | null {
    let raw: Buffer;
    let start: number;
    if (this.parts.length === 0) {
      raw = chunk;
      start = tokenStart;
    } else {
      this.keepPart(chunk.subarray(0, end));
      raw = Buffer.concat(this.parts);
      this.parts = [];
      start = 0;
      end = raw.length;
    }
    // A spanning token's earlier bytes were held back: passing it means emitting `raw` (null: its bytes pass in place).
    const unchanged = raw === chunk ? null : raw;
    if (!this.isKey && this.whole !== -1) return this.constantWhole() ?? this.maskWhole(this.decode(raw, start, end));
    const top = this.kinds.length - 1;
    // A plain name seen before with no match (the common case: the same names in every record) needs no decoding.
    const cacheable = this.isKey && this.scan === -1 && !this.escapedInToken;
    const known = cacheable ? this.names.get(raw, start + 1, end - 1) : undefined;
    if (known !== undefined) {
      this.memberState = this.wholes[top] === -1 ? this.states[top].member(known) : this.states[top];
      return unchanged;
    }
    const actions = this.actions(raw, start + 1, end - 1);
    const matchName = this.isKey && this.wholes[top] === -1 && this.states[top].keyDependent;
    if (!matchName && actions === 0) {
      if (this.isKey) this.memberState = this.states[top].member('');
      return unchanged;
    }
    const text = this.decode(raw, start, end);
    if (this.isKey) this.memberState = this.wholes[top] === -1 ? this.states[top].member(text.toLowerCase()) : this.states[top];
    let masked = text;
    if (actions & 1) masked = maskCounted(masked, this.spec.content!, this.hashKey, this.hits);
    if (actions & 2) masked = maskCounted(masked, this.spec.fields[this.scan].content!, this.hashKey, this.hits);
    if (masked === text && cacheable) this.names.set(raw, start + 1, end - 1, text.toLowerCase());
    return masked === text ? unchanged : this.encoded(masked);
  }

  /**
   * The content actions that may match the string raw[start, end) (its bytes between the quotes), as bits (no
   * allocation per string): 1 the body-wide content action, 2 the scanning field's own.
   */
  private actions(raw: Buffer, start: number, end: number): number {
    let found = 0;
    const { content } = this.spec;
    if (content !== null && mayMatch(raw, start, end, this.escapedInToken, content)) found |= 1;
    if (this.scan !== -1) {
      const own = this.spec.fields[this.scan].content;
      if (own !== null && mayMatch(raw, start, end, this.escapedInToken, own)) found |= 2;
    }
    return found;
  }

  private decode(raw: Buffer, start: number, end: number): string {
    if (!this.escapedInToken) return raw.toString('utf8', start + 1, end - 1);
    try {
      return JSON.parse(raw.toString('utf8', start, end)) as string;
    } catch {
      throw new JsonMaskError('a bad escape in a JSON string');
    }
  }

  /**
   * The output of the whole-masked value under a strategy that ignores the value (redact, null), encoded once per
   * body; null for one that needs it (hash, partial). Saves decoding and encoding each of a million masked values.
   */
  private constantWhole(): Buffer | null {
    const field = this.spec.fields[this.whole];
    if (field.strategy !== 'redact' && field.strategy !== 'null') return null;
    countHit(this.hits, field.rule);
    let bytes = this.constants[this.whole];
    if (bytes === undefined) {
      const masked = maskValue(field.strategy, '', 'column', this.hashKey);
      bytes = Buffer.from(masked === null ? 'null' : JSON.stringify(masked));
      this.constants[this.whole] = bytes;
    }
    return bytes;
  }

  private maskWhole(value: string): Buffer | string {
    const field = this.spec.fields[this.whole];
    countHit(this.hits, field.rule);
    const masked = maskValue(field.strategy, value, 'column', this.hashKey);
    return masked === null ? 'null' : this.encoded(masked);
  }

  /**
   * `masked` as a JSON string: its UTF-8 bytes when a short one came before (masked texts repeat: `[REDACTED]`,
   * `***@example.com`, so each is encoded once per body), else the JSON text. Bounded by MAX_ENCODED entries.
   */
  private encoded(masked: string): Buffer | string {
    if (masked.length > 64) return JSON.stringify(masked);
    const known = this.encodings.get(masked);
    if (known !== undefined) return known;
    const json = JSON.stringify(masked);
    if (this.encodings.size < MAX_ENCODED) this.encodings.set(masked, Buffer.from(json));
    return json;
  }

  private endNumber(): Buffer | string | null {
    if (NUMBER_END[this.numberState] !== 1) throw new JsonMaskError('an invalid JSON number');
    this.valueDone();
    return this.held ? this.constantWhole() ?? this.maskWhole(this.number) : null;
  }

  private endLiteral(): Buffer | string | null {
    this.valueDone();
    return this.held ? this.constantWhole() ?? this.maskWhole(this.literal.toString('latin1')) : null;
  }
}

/**
 * A whole JSON text masked (a WebSocket message, an SSE event's data, a recorded body), adding its hits to `hits`;
 * null when the text is not valid JSON (its hits are then not counted; the caller masks it as text).
 */
export function maskJsonText(text: string, spec: HttpMaskSpec, hashKey: Buffer, hits: Record<string, number>,
  options: JsonMaskerOptions = {}): string | null {
  const masker = new JsonMasker(spec, hashKey, options);
  let out: string;
  try {
    out = Buffer.concat([masker.push(Buffer.from(text, 'utf8')), masker.end()]).toString('utf8');
  } catch (err) {
    if (err instanceof JsonMaskError) return null;
    throw err;
  }
  if (!masker.started) return null;
  for (const [rule, n] of Object.entries(masker.hits)) hits[rule] = (hits[rule] ?? 0) + n;
  return out;
}
