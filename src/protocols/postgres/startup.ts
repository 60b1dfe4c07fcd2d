/**
 * The caller's side of the startup phase: reads untyped startup packets and the few typed messages of
 * authentication from a socket, and upgrades the socket to TLS in place when the caller asks for it. It only moves
 * bytes and parses them with the codec; the engine decides what to do with them. Once the caller is authenticated,
 * `detach` hands the socket and any bytes read ahead to the relay.
 */
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { WardenError } from '../../errors.js';
import { StartupReader, type StartupPacket } from './codec.js';

/** Largest typed message accepted before the session exists (a PasswordMessage with a token fits easily). */
const MAX_STARTUP_MESSAGE = 64 * 1024;

/** A caller's connection during the startup phase. */
export class StartupChannel {
  private socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private failure: WardenError | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.notify();
  };
  private readonly onEnd = () => this.fail(new WardenError('WARDEN_ERR_PROTOCOL', 'connection closed during startup'));
  private readonly onError = (err: Error) =>
    this.fail(new WardenError('WARDEN_ERR_PROTOCOL', 'connection failed during startup', { detail: err.message }));

  constructor(socket: Socket) {
    this.socket = socket;
    this.attach();
  }

  /** The current socket (a TLSSocket after `upgradeTls`). */
  get current(): Socket {
    return this.socket;
  }

  /** True once the caller's connection is encrypted. */
  get encrypted(): boolean {
    return this.socket instanceof tls.TLSSocket;
  }

  /** True when the caller sent bytes that were not read yet. */
  get hasBufferedBytes(): boolean {
    return this.pending.length > 0;
  }

  /** Reads one untyped startup packet (SSLRequest, GSSENCRequest, CancelRequest or StartupMessage). */
  async readStartupPacket(): Promise<StartupPacket> {
    const reader = new StartupReader();
    for (;;) {
      const chunk = await this.take();
      const result = reader.push(chunk);
      if (result) {
        this.pending = result.rest;
        return result.packet;
      }
    }
  }

  /** Reads one typed message (type byte, length, body). */
  async readMessage(): Promise<{ type: number; body: Buffer }> {
    while (this.pending.length < 5) await this.more();
    const type = this.pending[0];
    const length = this.pending.readInt32BE(1);
    if (length < 4) throw new WardenError('WARDEN_ERR_PROTOCOL', 'invalid message length');
    if (length > MAX_STARTUP_MESSAGE) throw new WardenError('WARDEN_ERR_MESSAGE_TOO_LARGE', 'startup message too large');
    while (this.pending.length < length + 1) await this.more();
    const body = this.pending.subarray(5, length + 1);
    this.pending = this.pending.subarray(length + 1);
    return { type, body };
  }

  /** Writes bytes to the caller. */
  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /**
   * Answers an SSLRequest with 'S' and switches to TLS. Bytes the caller sent after the SSLRequest and before the
   * handshake were not protected by TLS, so they are refused (the "buffer stuffing" attack, CVE-2021-23214).
   */
  async upgradeTls(material: { cert: string; key: string }): Promise<void> {
    if (this.pending.length > 0) {
      throw new WardenError('WARDEN_ERR_PROTOCOL', 'received unencrypted data after SSL request');
    }
    this.detachListeners();
    this.socket.write(Buffer.from('S'));
    const secure = new tls.TLSSocket(this.socket, { isServer: true, cert: material.cert, key: material.key });
    await new Promise<void>((resolve, reject) => {
      const onFail = (err: Error) => reject(new WardenError('WARDEN_ERR_PROTOCOL', 'TLS handshake failed', { detail: err.message }));
      secure.once('secure', () => { secure.off('error', onFail); resolve(); });
      secure.once('error', onFail);
    });
    this.socket = secure;
    this.attach();
  }

  /** Stops reading and hands over the socket (paused) with the bytes read ahead. */
  detach(): { socket: Socket; leftover: Buffer } {
    this.detachListeners();
    this.socket.pause();
    const leftover = this.pending;
    this.pending = Buffer.alloc(0);
    return { socket: this.socket, leftover };
  }

  /** Closes the connection after writing `last` (an error message), if given. */
  close(last?: Buffer): void {
    this.detachListeners();
    if (this.socket.destroyed) return;
    if (last) this.socket.end(last);
    else this.socket.end();
    // A caller that never reads would keep the socket half-open forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.resume();
  }

  private detachListeners(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    // Keep one error listener so a late socket error never becomes an uncaught exception.
    if (this.socket.listenerCount('error') === 0) this.socket.on('error', () => {});
  }

  private async take(): Promise<Buffer> {
    while (this.pending.length === 0) await this.more();
    const chunk = this.pending;
    this.pending = Buffer.alloc(0);
    return chunk;
  }

  private more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private fail(err: WardenError): void {
    this.failure ??= err;
    this.notify();
  }
}
