/**
 * The portal's sign-in cookie: after an OIDC or SAML sign-in the browser keeps its Warden token in an HttpOnly
 * cookie, so portal pages and safe (GET) API reads work without the token ever being visible to page scripts.
 * Unsafe methods still need a bearer header (auth.ts), which is what protects them from cross-site requests.
 */

/** The cookie's name. */
export const PORTAL_COOKIE = 'warden_token';

/** A `Set-Cookie` value carrying `token` for `maxAgeSeconds`; `secure` when the portal is served over HTTPS. */
export function portalCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  const attributes = [`${PORTAL_COOKIE}=${token}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}

/**
 * Whether cookies set in answer to this request get `Secure`: the request came over HTTPS (Warden's own TLS, or a
 * trusted proxy's X-Forwarded-Proto, see `--trust-proxy`), or Warden's public URL is https.
 */
export function isSecureRequest(request: { protocol: string }, publicUrl: string | undefined): boolean {
  return request.protocol === 'https' || (publicUrl?.startsWith('https:') ?? false);
}

/** A `Set-Cookie` value that removes the cookie (sign-out). */
export function clearedPortalCookie(): string {
  return `${PORTAL_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
}

/** The token in a `Cookie` header, if the portal cookie is there. */
export function tokenFromCookieHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === PORTAL_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value.length > 0 ? value : undefined;
    }
  }
  return undefined;
}
