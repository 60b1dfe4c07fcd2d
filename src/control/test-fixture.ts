/**
 * Test fixture of the control API: the REAL store (a SQLite file), vault and token service in a fresh temporary
 * data directory, a control API built on them and an admin token. Used by the control and CLI tests; never by
 * production code (it issues admin tokens freely).
 */
import { installPolicyProtocols } from '../policy/vocabulary.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { builtinDiagnosers } from '../protocols/diagnosers.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { ApprovalService } from '../approvals/service.js';
import { Notifier } from '../approvals/notifier.js';
import { signInWithIdToken } from '../identity/oidc.js';
import { ServiceAccounts } from '../identity/service-accounts.js';
import { SignInService } from '../identity/signin.js';
import { SshCertificateAuthority } from '../identity/ssh-ca.js';
import { SshKeys } from '../identity/ssh-keys.js';
import { KillSwitch } from '../session/kill-switch.js';
import { SessionRegistry } from '../session/registry.js';
import { ADMIN_GROUP, TokenService } from '../identity/tokens.js';
import { PolicyCatalog } from '../session/policy-catalog.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { Vault } from '../vault/vault.js';
import { buildControlApi, type ControlDeps, type ControlHttpOptions } from './app.js';

/** Everything a control API test needs, plus `close` to release it. */
export interface ControlFixture {
  app: FastifyInstance;
  deps: ControlDeps;
  store: Store;
  vault: Vault;
  tokens: TokenService;
  dataDir: string;
  /** The kill switch's live-session registry (tests add sessions to it). */
  registry: SessionRegistry;
  /** Events the kill switch recorded. */
  recorded: Array<{ session: string; type: string; data: Record<string, unknown> }>;
  /** A valid token in the admin group. */
  adminToken: string;
  /** How many times the API flushed the recorder. */
  flushes: () => number;
  /** Every log line the API wrote, as raw text (to prove secrets never reach it). */
  logText: () => string;
  close(): Promise<void>;
}

/** Options of a fixture; everything defaults to what most tests want. */
export interface ControlFixtureOptions {
  /** The default effect the policy test route assumes (default `deny`). */
  defaultEffect?: 'allow' | 'deny';
  /** HTTP server settings (TLS, trusted proxies, request timeout); default: plain HTTP, no proxy trusted. */
  http?: ControlHttpOptions;
  /** Warden's public URL (default: none, derived from each request). */
  publicUrl?: string;
}

/** Builds a fresh fixture in its own temporary directory. */
export async function createControlFixture(options: ControlFixtureOptions = {}): Promise<ControlFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'warden-control-'));
  const protocols = builtinProtocols();
  installPolicyProtocols(protocols);
  const store = await openStore({ kind: 'sqlite', path: join(dataDir, 'warden.db') });
  const vault = await Vault.loadOrCreate(dataDir);
  const tokens = await TokenService.create({ store, dataDir });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  let flushes = 0;
  const logger = pino({ level: 'debug' }, sink);
  const registry = new SessionRegistry();
  const signIn = new SignInService({ store, tokens, vault });
  const sshKeys = new SshKeys({ store });
  const recorded: Array<{ session: string; type: string; data: Record<string, unknown> }> = [];
  const notifier = new Notifier({ webhookUrls: [], slackWebhookUrls: [], publicUrl: 'http://127.0.0.1', logger });
  const deps: ControlDeps = {
    store,
    tokens,
    vault,
    logger,
    recorder: { flush: async () => void flushes++ },
    version: '0.0.0-test',
    listeners: () => [{ protocol: 'postgres', port: 15432 }, { protocol: 'ssh', port: 2222, note: 'SSH host key SHA256:fixture' }],
    policies: await PolicyCatalog.load(store),
    protocols, diagnosers: builtinDiagnosers(),
    defaultEffect: options.defaultEffect ?? 'deny',
    approvals: await ApprovalService.create({ store, logger, notifier }),
    signIn,
    idTokenExchange: (idToken) => signInWithIdToken(signIn, idToken),
    serviceAccounts: new ServiceAccounts({ store, tokens }),
    killSwitch: new KillSwitch({ registry, tokens, store, logger, sshKeys,
      record: (live, type, data) => recorded.push({ session: live.session.id, type, data }) }),
    sshKeys,
    sshCa: await SshCertificateAuthority.loadOrCreate(dataDir, { store, tokens }),
    ...(options.http ? { http: options.http } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
  };
  const app = await buildControlApi(deps);
  const admin = await tokens.issue({ subject: 'root', kind: 'user', groups: [ADMIN_GROUP], targets: ['*'], ttlSeconds: 3600 });
  return {
    app, deps, store, vault, tokens, dataDir, registry, recorded,
    adminToken: admin.token,
    flushes: () => flushes,
    logText: () => logLines.join(''),
    async close() {
      await app.close();
      await deps.approvals.shutdown('test finished');
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A session record with sensible defaults, for seeding the store. */
export function sessionFixture(id: string, over: Partial<import('../store/types.js').SessionRecord> = {}) {
  return {
    id,
    protocol: 'postgres' as const,
    subject: 'alice',
    subjectKind: 'user' as const,
    groups: ['dev'],
    chain: [],
    tokenId: 'tok_1',
    target: 'pg1',
    database: 'app',
    clientAddress: '127.0.0.1:50000',
    startedAt: '2030-01-01T00:00:00.000Z',
    endedAt: null,
    endReason: null,
    ...over,
  };
}
