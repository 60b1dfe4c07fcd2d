/**
 * Builders of SFTP v3 packets for the codec and tracker tests (test support only; nothing on the data path imports
 * it). Each field helper returns its wire bytes; `packet` prefixes the length and type.
 */

/** uint32. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** uint64. */
export function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** string (uint32 length, bytes). */
export function str(s: string | Buffer): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** ATTRS with only the fields given. */
export function attrs(a: { size?: number; permissions?: number } = {}): Buffer {
  let flags = 0;
  const parts: Buffer[] = [];
  if (a.size !== undefined) {
    flags |= 1;
    parts.push(u64(a.size));
  }
  if (a.permissions !== undefined) {
    flags |= 4;
    parts.push(u32(a.permissions));
  }
  return Buffer.concat([u32(flags), ...parts]);
}

/** A whole packet: length, type, fields. */
export function packet(type: number, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}
