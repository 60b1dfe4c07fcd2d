/**
 * The protocols this Warden speaks, by name. The server fills one registry at start-up (protocols/builtin.ts) and
 * hands it to the pipeline, policy validation and the control API; they look protocols up here and never import
 * one. Owns the questions that span protocols: the union of their classes, which protocols a policy rule's match
 * keys fit, and validating a target's fields against its protocol's spec. No I/O apart from each protocol's `init`.
 */
import { WardenError } from '../errors.js';
import type { ProtocolDefinition } from './protocol.js';
import type { Target } from './types.js';

/** Fields of a stored target that are not its protocol's own (secrets and bookkeeping). */
const NOT_SPEC = new Set(['name', 'type', 'labels', 'passwordEnc', 'secretsEnc', 'createdAt', 'updatedAt']);

/** Match keys every protocol understands; the pipeline itself matches them. */
export const COMMON_MATCH_KEYS: readonly string[] = ['classes'];

/** Registered protocols, in registration order. */
export class ProtocolRegistry {
  private readonly byName = new Map<string, ProtocolDefinition>();
  private classCache: string[] | undefined;

  constructor(definitions: readonly ProtocolDefinition[] = []) {
    for (const definition of definitions) this.register(definition);
  }

  /** Adds a protocol; a second one with the same name, or a match key clashing with a common key, is an error. */
  register(definition: ProtocolDefinition): void {
    if (this.byName.has(definition.name)) {
      throw new WardenError('WARDEN_ERR_INTERNAL', `protocol "${definition.name}" is registered twice`, { public: false });
    }
    const clash = Object.keys(definition.matchKeys).find((key) => COMMON_MATCH_KEYS.includes(key));
    if (clash !== undefined) {
      throw new WardenError('WARDEN_ERR_INTERNAL', `protocol "${definition.name}" redefines the common match key "${clash}"`,
        { public: false });
    }
    this.byName.set(definition.name, definition);
    this.classCache = undefined;
  }

  /** The protocol named `name`, or undefined. */
  get(name: string): ProtocolDefinition | undefined {
    return this.byName.get(name);
  }

  /** The protocol named `name`; a name no protocol has is an internal error (fail closed). */
  require(name: string): ProtocolDefinition {
    const definition = this.byName.get(name);
    if (definition === undefined) {
      throw new WardenError('WARDEN_ERR_INTERNAL', `protocol "${name}" is not registered`, { public: false });
    }
    return definition;
  }

  /** Every registered protocol, in registration order. */
  list(): ProtocolDefinition[] {
    return [...this.byName.values()];
  }

  /** Names of the registered protocols, in registration order (e.g. for the control API's protocol enum). */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The union of every registered protocol's classes, in registration order (postgres's first). */
  classes(): string[] {
    this.classCache ??= [...new Set(this.list().flatMap((d) => d.classes))];
    return this.classCache;
  }

  /**
   * The protocols whose match keys cover every key of `match` other than the common ones. A match with no
   * protocol key fits every protocol; an empty result means the keys mix protocols (or name a key none has).
   */
  protocolsFor(match: Readonly<Record<string, unknown>> | undefined): ProtocolDefinition[] {
    const keys = match === undefined ? [] : Object.keys(match).filter((key) => !COMMON_MATCH_KEYS.includes(key));
    return this.list().filter((d) => keys.every((key) => Object.hasOwn(d.matchKeys, key)));
  }

  /**
   * The Target of a stored target (its record, secrets ignored): its protocol's fields validated by the protocol's
   * zod spec. A protocol that is not registered or fields that do not fit are WARDEN_ERR_TARGET_NOT_FOUND with the
   * reason in `detail`: a target Warden cannot read is never connected to.
   */
  target(record: Target): Target {
    const own = record as unknown as Record<string, unknown>;
    const definition = this.byName.get(record.type);
    if (definition === undefined) {
      throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${record.name}" has type "${record.type}", which this `
        + 'Warden does not speak');
    }
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(own)) if (!NOT_SPEC.has(key)) fields[key] = own[key];
    const parsed = definition.targetSpec.safeParse(fields);
    if (!parsed.success) {
      throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target "${record.name}" is not a valid ${record.type} target`,
        { detail: parsed.error.message });
    }
    return { ...parsed.data, name: record.name, type: record.type, labels: { ...record.labels } } as Target;
  }

  /** Runs every protocol's `init` (parsers), once at start-up. */
  async init(): Promise<void> {
    for (const definition of this.list()) await definition.init?.();
  }
}
