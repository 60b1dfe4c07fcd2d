/**
 * How an http target looks through the control API and what an update may not change without its secrets.
 * Pure: no I/O, never a secret.
 */
import { changedFields } from '../target-changes.js';

/** The public fields of a stored http target: where it is and which credential is stored, never the credential. */
export function httpTargetView(t: Readonly<Record<string, unknown>>, stored: { password: boolean; secrets: readonly string[] }): Record<string, unknown> {
  return { url: t.url, auth: t.auth, hostHeader: t.hostHeader, headers: t.headers, hasCa: t.caCert !== null,
    hasClientCert: t.clientCert !== null, hasSecret: stored.secrets.includes('secret'),
    hasClientKey: stored.secrets.includes('clientKey'), hasPassword: stored.password };
}

/**
 * Changes that would send the stored secret or client key to another server or to another place in the request:
 * the URL, the CA trusted, the Host header, how the secret is injected.
 */
export function httpRedirects(current: Readonly<Record<string, unknown>>, change: Readonly<Record<string, unknown>>): string[] {
  return changedFields(current, change, { url: 'URL', caCert: 'CA', hostHeader: 'Host header', auth: 'auth' });
}

/** How to give the credentials again. */
export const HTTP_SECRETS_AGAIN = 'stored credential to another server: give it again (--secret-stdin, or --client-cert with '
  + '--client-key) or remove it (--no-secret, --no-client-key)';
