/**
 * Secret masking of one JSON answer or watch event, as text in and text out. The masking itself (which objects are
 * Secrets, in Lists, watch events and Tables, and what of them is secret) is the pure masker of secret-masking.ts;
 * this module only parses and serialises, and refuses what is not JSON (fail closed: never passed unmasked).
 */
import { WardenError } from '../../errors.js';

/** Placeholder until k1's masker lands: masks data/stringData of Secrets in objects, Lists, events and Tables. */
function maskSecretsInDocument(doc: unknown): { value: unknown; changed: boolean } {
  let changed = false;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = { ...(v as Record<string, unknown>) };
    if (o.kind === 'Secret') {
      for (const f of ['data', 'stringData']) {
        const d = o[f];
        if (d !== null && typeof d === 'object') {
          o[f] = Object.fromEntries(Object.keys(d).map((k) => [k, f === 'data' ? 'KioqKioqKio=' : '********']));
          changed = true;
        }
      }
      const meta = o.metadata as { annotations?: Record<string, string> } | undefined;
      if (meta?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'] !== undefined) {
        o.metadata = { ...meta, annotations: { ...meta.annotations, 'kubectl.kubernetes.io/last-applied-configuration': '********' } };
        changed = true;
      }
      return o;
    }
    for (const k of ['items', 'object', 'rows']) if (k in o) o[k] = walk(o[k]);
    return o;
  };
  const value = walk(doc);
  return { value, changed };
}

/** The JSON text with every Secret value masked; throws WARDEN_ERR_UPSTREAM_PROTOCOL when it is not JSON. */
export function maskSecretsInText(text: string): string {
  if (text.trim() === '') return text;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'Warden must mask this answer but it is not valid JSON, so it was not passed on');
  }
  const masked = maskSecretsInDocument(doc);
  return masked.changed ? JSON.stringify(masked.value) : text;
}
