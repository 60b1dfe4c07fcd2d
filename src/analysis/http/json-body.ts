/**
 * A JSON request body read as the list of its fields, the way a policy's `jsonBody` conditions need it: every
 * member of every object with its path of keys and its value, duplicates kept (JSON.parse keeps the last duplicate,
 * an upstream may read the first, so a deny must see both). Arrays are transparent: an element's fields have the
 * path of the array (`{"users":[{"role":"admin"}]}` has `users.role` = `"admin"`). Strict RFC 8259 grammar; a text
 * that is not JSON, or nests deeper than MAX_JSON_DEPTH, gives undefined (the caller judges it as an unread body).
 * Pure, never throws.
 */

/** How deep a body may nest before it is judged unread. */
export const MAX_JSON_DEPTH = 256;

/** A member's value: a scalar as JSON.parse gives it, or the kind of a container. */
export type JsonFieldValue = string | number | boolean | null | { container: 'object' | 'array' };

/** One member of an object in the body: its path of keys from the top (array levels left out) and its value. */
export interface JsonField {
  path: readonly string[];
  value: JsonFieldValue;
}

const OBJECT: JsonFieldValue = { container: 'object' };
const ARRAY: JsonFieldValue = { container: 'array' };
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class NotJson extends Error {}

/** The fields of `text`, or undefined when it is not JSON (or too deep). */
export function jsonFields(text: string): JsonField[] | undefined {
  const fields: JsonField[] = [];
  let i = 0;
  const fail = (): never => {
    throw new NotJson();
  };
  const space = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i++;
    }
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        // JSON.parse checks the escapes and decodes them exactly as an upstream's JSON reader would.
        return JSON.parse(text.slice(start, i)) as string;
      }
      if (c < 0x20) fail();
      i += c === 0x5c ? 2 : 1;
    }
    return fail();
  };
  // Reads one value at `path`; returns it (a scalar, or the container's kind after recording its members).
  const value = (path: readonly string[], depth: number): JsonFieldValue => {
    if (depth > MAX_JSON_DEPTH) fail();
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return OBJECT;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail();
        const key = string();
        space();
        if (text[i] !== ':') fail();
        i++;
        const at = [...path, key];
        const field: JsonField = { path: at, value: null };
        fields.push(field);
        field.value = value(at, depth + 1);
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return OBJECT;
        }
        fail();
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return ARRAY;
      }
      for (;;) {
        const element = value(path, depth + 1);
        // A scalar element is a value of the array's field too (`"roles": ["admin"]`).
        if (path.length > 0 && (typeof element !== 'object' || element === null)) fields.push({ path, value: element });
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return ARRAY;
        }
        fail();
      }
    }
    if (c === '"') return string();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return result;
      }
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(text);
    if (number === null) return fail();
    i += number[0].length;
    return Number(number[0]);
  };
  try {
    value([], 0);
    space();
    return i === text.length ? fields : undefined;
  } catch {
    // NotJson, a bad escape (JSON.parse's SyntaxError), or a stack overflow on a runtime with a small stack.
    return undefined;
  }
}
