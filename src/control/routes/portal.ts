/**
 * The portal's front page (`GET /`) and sign-out (`POST /auth/logout`), server-rendered and script-free: sign-in
 * links for every identity provider and, when the portal cookie holds a valid Warden token, who is signed in (user,
 * groups, expiry). Sign-out revokes the cookie's token and clears the cookie; a cross-site form cannot do it for
 * someone else because the cookie is SameSite=Lax (not sent on cross-site POSTs). Every value shown is escaped.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { IdentityProvider } from '../../identity/providers.js';
import type { Subject } from '../../session/types.js';
import type { ControlDeps } from '../app.js';
import { escapeHtml, page, sendPage } from '../html.js';
import { clearedPortalCookie, tokenFromCookieHeader } from '../portal-cookie.js';

/** The sign-in links of every provider. */
function signInLinks(providers: IdentityProvider[]): string {
  if (providers.length === 0) {
    return '<p>No identity provider is configured. An operator adds one with <code>warden apply -f</code> (kind IdentityProvider).</p>';
  }
  const items = providers.map((p) => {
    const href = `/auth/${p.type}/${encodeURIComponent(p.name)}/login`;
    const label = p.description ?? p.name;
    return `<li><a class="button" href="${escapeHtml(href)}">Sign in with ${escapeHtml(label)}</a> <small>(${escapeHtml(p.type.toUpperCase())})</small></li>`;
  });
  return `<ul>\n${items.join('\n')}\n</ul>`;
}

/** Who is signed in, and the sign-out button. */
function signedIn(subject: Subject): string {
  const groups = subject.groups.length > 0 ? subject.groups.map((g) => `<code>${escapeHtml(g)}</code>`).join(', ') : 'none';
  const expires = new Date(subject.expiresAt * 1000).toISOString();
  return `<p>Signed in as <strong id="user">${escapeHtml(subject.id)}</strong>.</p>
<p>Groups: <span id="groups">${groups}</span></p>
<p>Your sign-in ends at <time id="expires" datetime="${escapeHtml(expires)}">${escapeHtml(expires)}</time>.</p>
<form method="post" action="/auth/logout"><button type="submit">Sign out</button></form>`;
}

/** Registers `GET /` and `POST /auth/logout`; both public (the cookie, when valid, says who is there). */
export function portalRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    // The sign-out button posts an (empty) HTML form; its body carries nothing Warden reads.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_req, _body, done) => done(null, {}));

    app.get('/', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) => {
      const token = tokenFromCookieHeader(request.headers.cookie);
      let subject: Subject | undefined;
      let note = '';
      if (token !== undefined) {
        try {
          subject = await deps.tokens.verify(token);
        } catch {
          note = '<p class="error">Your sign-in has ended. Sign in again.</p>';
        }
      }
      const providers = await deps.signIn.list();
      const body = subject !== undefined
        ? `${signedIn(subject)}\n<h2>Sign in with another account</h2>\n${signInLinks(providers)}`
        : `${note}\n${signInLinks(providers)}`;
      return sendPage(reply, 200, page(subject !== undefined ? 'Warden' : 'Sign in to Warden', body));
    });

    app.post('/auth/logout', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) => {
      const token = tokenFromCookieHeader(request.headers.cookie);
      if (token !== undefined) {
        try {
          const revoked = await deps.tokens.revoke(token);
          request.log.info({ user: revoked.subject, tokenId: revoked.id }, 'signed out of the portal');
        } catch {
          // An expired, foreign or already revoked token: nothing to revoke, the cookie goes anyway.
        }
      }
      return reply.header('set-cookie', clearedPortalCookie()).header('cache-control', 'no-store').redirect('/', 303);
    });
  };
}
