/**
 * Label and field selectors (`?labelSelector=`, `?fieldSelector=`) as the real API server parses them: label
 * requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`; field requirements `path=v`,
 * `path==v`, `path!=v` on dotted paths (`metadata.name`, `status.phase`, `involvedObject.uid`). Written by hand: it
 * is a few lines, and the matching must mirror the server's, not a library's idea of it.
 */
import { badRequest } from './status.js';

type Obj = Record<string, unknown>;
/** A compiled selector: true when the object matches. */
export type Selector = (obj: Obj) => boolean;

/** Splits on commas outside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

/** Compiles a label selector; an empty one matches everything. */
export function labelSelector(text: string | null): Selector {
  if (!text) return () => true;
  const checks = splitTerms(text).map((term): ((labels: Record<string, string>) => boolean) => {
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const [, key, op, list] = m;
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => key in l && values.includes(l[key]) : (l) => !(key in l) || !values.includes(l[key]);
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m;
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    m = /^(!?)([\w./-]+)$/.exec(term);
    if (m) return m[1] ? (l) => !(m![2] in l) : (l) => m![2] in l;
    throw badRequest(`unable to parse requirement: found '${term}', expected: key, =, ==, !=, in, notin`);
  });
  return (obj) => {
    const labels = ((obj.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
    return checks.every((c) => c(labels));
  };
}

/** The value at a dotted path, as a string ('' when absent, as the server's field sets have it). */
function fieldValue(obj: Obj, path: string): string {
  let value: unknown = obj;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as Obj)[part] : undefined;
  return value === undefined || value === null ? '' : String(value);
}

/** Compiles a field selector; an empty one matches everything. */
export function fieldSelector(text: string | null): Selector {
  if (!text) return () => true;
  const checks = splitTerms(text).map((term): Selector => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, path, op, value] = m;
    return op === '!=' ? (o) => fieldValue(o, path) !== value : (o) => fieldValue(o, path) === value;
  });
  return (obj) => checks.every((c) => c(obj));
}
