/**
 * What the policy engine decides and what it decides on. Types only; the resource schema is in schema.ts.
 */
import type { Analysis, ProtocolDefinition } from '../session/protocol.js';
import type { Subject, Target } from '../session/types.js';

/** A rule's effect. Order of strength: deny > require_approval > allow. */
export type Effect = 'allow' | 'deny' | 'require_approval';

/** Who may approve, how many distinct approvers are needed, and how long the statement may wait. */
export interface ApprovalRequirement {
  groups: string[];
  users: string[];
  count: number;
  timeoutSeconds: number;
}

/** The decision for one query string, with the rule that produced it. */
export interface Decision {
  effect: Effect;
  /** `policy/rule` that decided, or undefined when the default applied. */
  rule?: string;
  /** What the caller is told on deny. */
  message?: string;
  /** Set when effect is require_approval. */
  approval?: ApprovalRequirement;
  /** Union of the command's classes, for records and messages. */
  classes: string[];
  /** True when a temporary access grant (not a rule, not the default) allowed the deciding statement. */
  grant?: boolean;
}

/** Everything evaluate() looks at. */
export interface EvaluationInput {
  subject: Subject;
  target: Target;
  /** What the target's protocol analyser said about the command. */
  analysis: Analysis;
  /** The target's protocol: its `unitMatches` gives the protocol's match keys their meaning. */
  protocol: ProtocolDefinition;
}
