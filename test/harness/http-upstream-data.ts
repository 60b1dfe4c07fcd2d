/**
 * The data the test HTTP upstream (http-upstream.ts) serves: customers with personal fields that masking tests
 * look for, a streamed large JSON array, a text page and a binary blob that hold e-mail addresses.
 */
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';

/** One customer: top-level personal fields plus nested ones (`address`, `contacts[*].email`). */
export interface Customer {
  id: number;
  name: string;
  email: string;
  ssn: string;
  phone: string;
  address: { street: string; city: string; postcode: string };
  contacts: Array<{ kind: string; email: string }>;
}

/** The `i`-th customer: deterministic, so tests can name the values they expect masked. */
export function customer(i: number): Customer {
  const n = String(i).padStart(4, '0');
  return {
    id: i,
    name: `Customer ${n}`,
    email: `customer${n}@example.com`,
    ssn: `123-45-${n}`,
    phone: `+1 555 010 ${n}`,
    address: { street: `${i} Main Street`, city: 'Springfield', postcode: `9${n}` },
    contacts: [{ kind: 'billing', email: `billing${n}@example.org` }],
  };
}

/** The `/json/customers` document. */
export function customersDocument(count = 3): { customers: Customer[]; total: number } {
  return { customers: Array.from({ length: count }, (_, i) => customer(i + 1)), total: count };
}

/** The `/text/customers` page: one line per customer with an e-mail address. */
export function customersText(count = 3): string {
  return Array.from({ length: count }, (_, i) => {
    const c = customer(i + 1);
    return `${c.name} <${c.email}> phone ${c.phone}\n`;
  }).join('');
}

/** The `/binary` body: bytes that are not text, with an e-mail address inside. */
export function binaryBlob(): Buffer {
  const noise = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 128) % 256));
  return Buffer.concat([noise, Buffer.from('customer0001@example.com'), noise]);
}

/**
 * Writes a JSON array of customers of about `bytes` bytes as chunked output, honouring backpressure (so a 1 GB
 * body never sits in memory) and stopping when the client goes away. Ends the response.
 */
export async function streamLargeArray(res: ServerResponse, bytes: number): Promise<void> {
  let written = 0;
  let i = 0;
  res.write('[');
  while (written < bytes && !res.destroyed) {
    let chunk = '';
    while (chunk.length < 64 * 1024 && written + chunk.length < bytes) {
      chunk += (i === 0 ? '' : ',') + JSON.stringify(customer(++i));
    }
    written += chunk.length;
    if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  if (!res.destroyed) res.end(']');
}
