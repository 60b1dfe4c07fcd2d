/**
 * How a kubernetes target looks through the control API and what an update may not change without its secrets.
 * Pure: no I/O, never a secret.
 */
import { changedFields } from '../target-changes.js';

/** The public fields of a stored kubernetes target: where it is and which credential is stored, never the credential. */
export function kubeTargetView(t: Readonly<Record<string, unknown>>, stored: { password: boolean; secrets: readonly string[] }): Record<string, unknown> {
  return { server: t.server, tlsServerName: t.tlsServerName, impersonate: t.impersonate, hasCa: t.caCert !== null,
    hasClientCert: t.clientCert !== null, hasToken: stored.secrets.includes('token'), hasClientKey: stored.secrets.includes('clientKey'),
    hasPassword: stored.password };
}

/** Changes that would send the stored token or client key to another server: its URL, the CA trusted, the TLS name. */
export function kubeRedirects(current: Readonly<Record<string, unknown>>, change: Readonly<Record<string, unknown>>): string[] {
  return changedFields(current, change, { server: 'server', caCert: 'CA', tlsServerName: 'TLS server name' });
}

/** How to give the credentials again. */
export const KUBE_SECRETS_AGAIN = 'stored credential to another server: give it again (--token-stdin, or --client-cert with '
  + '--client-key) or remove it (--no-token, --no-client-key)';
