/**
 * Agent and X11 forwarding requests of one session channel (`auth-agent-req@openssh.com`, `x11-req`), judged by the
 * pipeline as commands of kind `forward` (class `forward`): refused unless a rule allows class `forward` (a rule that
 * requires approval refuses them too: they are answered before the channel's program starts), recorded either way
 * with what was asked (the X11 authentication protocol and screen; never the cookie, a credential for the
 * caller's display). When allowed, the request is made upstream with the channel's program (channels.ts) and the
 * channels the target opens back are relayed: agent channels through agent-forwarding.ts's filter, X11 channels
 * to the caller's X server (forwarding.ts).
 *
 * X11 forwarding gives programs on the target a window on the caller's display: they can read its keystrokes and
 * screen unless the caller's ssh limits them (OpenSSH's untrusted `-X`, not `-Y`). It never forwards anything the
 * pipeline did not allow.
 */
import type { X11Info, X11Options } from 'ssh2';
import { canOpenAgentChannels } from './agent-forwarding.js';
import type { ConnectionContext } from './context.js';
import { judgeForwardNow } from './forwarding.js';

/** Judges a caller's agent forwarding request; true when allowed (the target's agent channels are relayed from now). */
export function requestAgent(conn: ConnectionContext): boolean {
  if (!canOpenAgentChannels(conn.caller)) {
    conn.pipeline.onEvent(conn.session, 'ssh.refused', { request: 'auth-agent', reason: 'this Warden cannot relay agent channels' });
    return false;
  }
  const verdict = judgeForwardNow(conn, 'auth-agent-req@openssh.com', { request: 'auth-agent' });
  if (verdict.effect !== 'allow' || conn.ending !== undefined) return false;
  const { session, pipeline } = conn;
  conn.forwards.agent.allow(conn.caller, (request) => pipeline.onEvent(session, 'ssh.agent', request), () => conn.ending === undefined);
  return true;
}

/** Judges a caller's X11 request; the options to request upstream when allowed, else undefined. */
export function requestX11(conn: ConnectionContext, info: X11Info): X11Options | undefined {
  // ssh2 hands the cookie over as the bytes of the request (hex text); it is passed on exactly as the caller sent it.
  const raw = info.cookie as unknown;
  const cookie = Buffer.isBuffer(raw) ? raw.toString('latin1') : String(raw);
  const protocol = String(info.protocol).slice(0, 64);
  const screen = Number(info.screen) >>> 0;
  const text = `x11-req ${protocol} screen ${screen}${info.single ? ' single-connection' : ''}`;
  const verdict = judgeForwardNow(conn, text, { request: 'x11', protocol, screen: String(screen) });
  if (verdict.effect !== 'allow' || conn.ending !== undefined) return undefined;
  conn.forwards.x11 = true;
  return { single: info.single === true, screen, protocol, cookie };
}
