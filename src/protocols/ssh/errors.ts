/**
 * How Warden's errors look to an SSH caller. SSH has no error message of its own for a refused login, so a refusal
 * is sent as a USERAUTH_BANNER just before the failure (OpenSSH prints banners at its default log level); inside a
 * channel an error is one line on the channel's stderr and an exit status. Only caller-safe text is ever rendered
 * (WardenError.callerMessage); details stay in logs.
 */
import type { Connection } from 'ssh2';
import type { WardenError } from '../../errors.js';

/** The exit status a caller sees when Warden refused or ended its command (ssh itself uses 255 for its own errors). */
export const REFUSED_EXIT_STATUS = 1;

/** One line for the caller: `warden: MESSAGE (CODE)`. */
export function callerLine(err: WardenError): string {
  return `warden: ${err.callerMessage} (${err.code})`;
}

interface PacketWriter {
  allocStart: number;
  alloc(size: number): Buffer;
  finalize(packet: Buffer): Buffer;
}

/** ssh2 internals used to send a banner after the service request; checked, so a changed ssh2 only loses the text. */
interface ProtocolInternals {
  _packetRW?: { write?: PacketWriter };
}

let sendPacket: ((proto: unknown, packet: Buffer) => void) | null | undefined;

async function loadSendPacket(): Promise<typeof sendPacket> {
  if (sendPacket !== undefined) return sendPacket;
  try {
    // ssh2 only sends a banner configured once per server; a per-connection refusal needs its packet writer.
    const utils = (await import('ssh2/lib/protocol/utils.js' as string)) as { sendPacket?: typeof sendPacket; default?: { sendPacket?: typeof sendPacket } };
    sendPacket = utils.sendPacket ?? utils.default?.sendPacket ?? null;
  } catch {
    sendPacket = null;
  }
  return sendPacket;
}

/** Loads what sendAuthBanner needs, once at start-up. */
export async function initBanner(): Promise<void> {
  await loadSendPacket();
}

/**
 * Sends `text` as an SSH_MSG_USERAUTH_BANNER (RFC 4252 5.4), which clients show during authentication. Best
 * effort: when ssh2's internals are not what this expects, nothing is sent.
 */
export function sendAuthBanner(client: Connection, text: string): void {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  const writer = proto?._packetRW?.write;
  if (!sendPacket || !writer || typeof writer.alloc !== 'function') return;
  const body = Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'utf8');
  let p = writer.allocStart;
  const packet = writer.alloc(1 + 4 + body.length + 4);
  packet[p] = 53; // SSH_MSG_USERAUTH_BANNER
  packet.writeUInt32BE(body.length, ++p);
  body.copy(packet, p += 4);
  packet.writeUInt32BE(0, p + body.length); // empty language tag
  sendPacket(proto, writer.finalize(packet));
}
