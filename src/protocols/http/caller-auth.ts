/**
 * The caller's Warden token, from the places HTTP tools put a credential: `Authorization: Bearer <token>`,
 * `Proxy-Authorization: Bearer <token>`, HTTP Basic (either header) with the token as the password, and the portal's
 * sign-in cookie (`warden_token`) for browsers. Basic's user name is not checked: the token names its user and the
 * pipeline verifies that (tools such as git send whatever user name they have). Two different tokens, a repeated
 * credential header or an Authorization of another scheme are refused: Warden never guesses which credential counts.
 * Pure: no I/O.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { PORTAL_COOKIE, tokenFromCookieHeader } from '../../control/portal-cookie.js';
import { WardenError } from '../../errors.js';

/** The token of one `Authorization`-style value: Bearer, or Basic's password; undefined for an unusable value. */
export function tokenOfAuthorization(value: string): string | undefined {
  const bearer = /^Bearer +([A-Za-z0-9._~+/=-]+)\s*$/i.exec(value);
  if (bearer !== null) return bearer[1];
  const basic = /^Basic +([A-Za-z0-9+/=]+)\s*$/i.exec(value);
  if (basic === null) return undefined;
  const text = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const password = colon < 0 ? '' : text.slice(colon + 1);
  return password === '' ? undefined : password;
}

/** The caller's Warden token; undefined when it sent none. Throws WARDEN_ERR_UNAUTHENTICATED/BAD_REQUEST. */
export function callerToken(headers: IncomingHttpHeaders, rawHeaders: readonly string[]): string | undefined {
  const found = new Set<string>();
  for (const name of ['authorization', 'proxy-authorization']) {
    const count = rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;
    if (count > 1) throw new WardenError('WARDEN_ERR_BAD_REQUEST', `send one ${name} header, not ${count}`);
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const token = tokenOfAuthorization(value);
    if (token === undefined) {
      throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', `the ${name} header must be "Bearer <Warden token>" or Basic `
        + 'with the Warden token as the password');
    }
    found.add(token);
  }
  const cookie = tokenFromCookieHeader(headers.cookie);
  if (cookie !== undefined) found.add(cookie);
  if (found.size > 1) throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'the request carries two different Warden tokens');
  return found.values().next().value;
}

/** A Cookie header without Warden's own cookie (the caller's other cookies kept, in order); undefined when none is left. */
export function cookieWithoutWarden(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const kept = header.split(';').map((p) => p.trim()).filter((p) => p !== '' && p.split('=')[0].trim() !== PORTAL_COOKIE);
  return kept.length > 0 ? kept.join('; ') : undefined;
}
