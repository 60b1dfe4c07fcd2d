/**
 * The policies in force, kept in memory so the data path reads them synchronously (no store read per statement);
 * the store is the source of truth. Writes go to the store first and only then swap the in-memory list, so the
 * catalog never enforces a policy that is not stored. Loading re-validates every stored document with the same
 * parser `warden apply` uses and refuses to start on one that no longer validates: a policy silently dropped would
 * turn a deny into an allow. This module must never evaluate policies (src/policy does) nor hold SQL.
 */
import { WardenError } from '../errors.js';
import { parsePolicyDocuments, validatePolicy } from '../policy/load.js';
import { policyToDocument, type Policy } from '../policy/schema.js';
import type { PolicyRecord, Store } from '../store/types.js';

/** What `apply` did to one policy. */
export type ApplyStatus = 'created' | 'updated' | 'unchanged';

/** One line of an apply report. */
export interface ApplyResult {
  name: string;
  status: ApplyStatus;
}

/** JSON with object keys sorted, so two equal documents compare equal whatever order their keys were written in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

/** A stored record as a policy, or WARDEN_ERR_STORE_UNAVAILABLE naming it: fail closed on a bad document. */
function policyFromRecord(record: PolicyRecord): Policy {
  let parsed: Policy[];
  try {
    parsed = parsePolicyDocuments(JSON.stringify(record.document), 'json');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', `stored policy "${record.name}" no longer validates: ${why}`, {
      detail: why,
      cause: err,
    });
  }
  if (parsed.length !== 1 || parsed[0].name !== record.name) {
    throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', `stored policy "${record.name}" holds a document of another name`);
  }
  return parsed[0];
}

/** The in-memory view of the stored policies; see the module header. */
export class PolicyCatalog {
  readonly #store: Store;
  readonly #now: () => Date;
  #byName = new Map<string, Policy>();
  #current: readonly Policy[] = Object.freeze([]);
  /** Tail of the write queue: applies and removals run one at a time so each swap starts from the last one. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(store: Store, now: () => Date) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * Loads every stored policy, re-validated. Throws WARDEN_ERR_STORE_UNAVAILABLE (naming the policy) when a stored
   * document no longer validates, so a server never starts with fewer policies than an operator applied.
   */
  static async load(store: Store, options: { now?: () => Date } = {}): Promise<PolicyCatalog> {
    const catalog = new PolicyCatalog(store, options.now ?? (() => new Date()));
    await catalog.reload();
    return catalog;
  }

  /**
   * Re-reads the store and swaps the in-memory list, e.g. when another replica changed a policy. On failure the
   * list in force stays as it was and the error is thrown.
   */
  async reload(): Promise<void> {
    await this.#serial(async () => {
      const records = await this.#store.policies.list();
      this.#swap(new Map(records.map((r) => [r.name, policyFromRecord(r)])));
    });
  }

  /** The policies in force, sorted by name. Synchronous; the same frozen array until a change. */
  current(): readonly Policy[] {
    return this.#current;
  }

  /** One policy in force, by name. */
  get(name: string): Policy | undefined {
    return this.#byName.get(name);
  }

  /**
   * Stores the policies (insert or replace by name; unchanged ones are not rewritten, so their updatedAt stays),
   * then swaps the in-memory list. Every policy is checked before anything is written: two with one name, or one
   * whose document would not load again, fail the whole call with WARDEN_ERR_BAD_REQUEST.
   */
  async apply(policies: Policy[]): Promise<ApplyResult[]> {
    const checked = checkBatch(policies);
    return this.#serial(async () => {
      const results: ApplyResult[] = [];
      try {
        for (const policy of checked) results.push({ name: policy.name, status: await this.#put(policy) });
      } catch (err) {
        // A write failed midway: earlier ones are stored, so re-read the store rather than guess what is in force.
        await this.#resync();
        throw err;
      }
      // Keep the same array when nothing differs, so readers holding current() see no change for a no-op apply.
      const differs = checked.some((p) => {
        const inForce = this.#byName.get(p.name);
        return inForce === undefined || canonicalJson(inForce) !== canonicalJson(p);
      });
      if (differs) {
        const next = new Map(this.#byName);
        for (const policy of checked) next.set(policy.name, policy);
        this.#swap(next);
      }
      return results;
    });
  }

  /** Removes a policy from the store, then from memory; false when the store had no such policy. */
  async remove(name: string): Promise<boolean> {
    return this.#serial(async () => {
      const removed = await this.#store.policies.remove(name);
      if (this.#byName.has(name)) {
        const next = new Map(this.#byName);
        next.delete(name);
        this.#swap(next);
      }
      return removed;
    });
  }

  /** Writes one policy unless the stored document is already equal; returns what happened. */
  async #put(policy: Policy): Promise<ApplyStatus> {
    const document = policyToDocument(policy) as unknown as Record<string, unknown>;
    const stored = await this.#store.policies.get(policy.name);
    if (stored !== undefined && canonicalJson(stored.document) === canonicalJson(document)) return 'unchanged';
    const now = this.#now().toISOString();
    return this.#store.policies.put({ name: policy.name, document, createdAt: now, updatedAt: now });
  }

  /** Best-effort reload after a failed write; the write's own error is the one worth reporting. */
  async #resync(): Promise<void> {
    try {
      const records = await this.#store.policies.list();
      this.#swap(new Map(records.map((r) => [r.name, policyFromRecord(r)])));
    } catch {
      // The store is failing: keep the list in force rather than enforce nothing.
    }
  }

  #swap(next: Map<string, Policy>): void {
    this.#byName = next;
    this.#current = Object.freeze([...next.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Checks a batch before any write: names are unique, and each policy survives the round trip through its stored
 * document form (what `load` will parse), so nothing written today can stop the server from starting tomorrow.
 * Returns the policies as they will be loaded again.
 */
function checkBatch(policies: Policy[]): Policy[] {
  const seen = new Set<string>();
  return policies.map((policy) => {
    if (seen.has(policy.name)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `policy "${policy.name}": defined more than once`);
    }
    seen.add(policy.name);
    return validatePolicy(JSON.parse(JSON.stringify(policyToDocument(policy))));
  });
}
