/**
 * Secret masking of one JSON answer or write body, text in and text out, with the pure masker of
 * secret-masking.ts; a failure (not JSON, not UTF-8) becomes a refusal, never a pass (fail closed).
 */
import { WardenError } from '../../errors.js';
import { maskSecretJson, type SecretMaskResult, type SecretScope } from './secret-masking.js';

/** The text of a masking result, or WARDEN_ERR_UPSTREAM_PROTOCOL saying why it cannot be passed on. */
export function maskedOrRefused(result: SecretMaskResult): string {
  if (result.ok) return result.text;
  throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `Warden must mask this answer but ${result.error}, so it was not passed on`,
    { detail: result.error });
}

/** The JSON text with every Secret value masked (`scope`: see secret-masking.ts); throws when it cannot be read. */
export function maskSecretsInText(text: string | Uint8Array, scope: SecretScope): string {
  return maskedOrRefused(maskSecretJson(text, scope));
}
