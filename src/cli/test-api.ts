/**
 * The control API CLI tests run against: a real control fixture (store, tokens, approvals) listening on a loopback
 * port, a working directory, tokens for the named users and PostgreSQL targets in the store. Test support only;
 * never imported by production code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControlFixture, type ControlFixture } from '../control/test-fixture.js';

/** A running control API with users and targets. */
export interface CliApi {
  fx: ControlFixture;
  url: string;
  /** A fresh working directory for the CLI runs. */
  cwd: string;
  /** Tokens by user name, and `admin`. */
  tokens: Record<string, string>;
  /** Stops the API and removes the working directory. */
  close(): Promise<void>;
}

/** Starts the API; `users` maps names to their groups (and target globs), `targets` names PostgreSQL targets. */
export async function startCliApi(o: { prefix: string; users: Record<string, { groups: string[]; targets?: string[] }>;
  targets: string[] }): Promise<CliApi> {
  const fx = await createControlFixture();
  const url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  const cwd = await mkdtemp(join(tmpdir(), o.prefix));
  const tokens: Record<string, string> = { admin: fx.adminToken };
  for (const [name, { groups, targets }] of Object.entries(o.users)) {
    tokens[name] = (await fx.tokens.issue({ subject: name, groups, ...(targets ? { targets } : {}), ttlSeconds: 3600 })).token;
  }
  for (const name of o.targets) {
    await fx.store.targets.insert({ name, type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app',
      passwordEnc: null, tls: 'prefer', ca: null, labels: {}, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z' });
  }
  return {
    fx, url, cwd, tokens,
    close: async () => {
      await fx.close();
      await rm(cwd, { recursive: true, force: true });
    },
  };
}
