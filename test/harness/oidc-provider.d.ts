/**
 * The little of `oidc-provider` (which ships no types) that the test identity provider uses: construct it, mount its
 * request handler on our own HTTP server, and listen to its error events.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** An OpenID Provider; it is a Koa application. */
  export default class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>);
    /** The Node request handler of the provider. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    /** Trust X-Forwarded-* headers (unused here, declared so configuration stays typed). */
    proxy: boolean;
  }
}
