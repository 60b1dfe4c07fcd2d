/**
 * Helpers the protocol definitions share for their target views and updates. Pure: no I/O.
 */

/**
 * The fields of `labels` (field name to the words for it) that `change` sets to another value than `current` has,
 * in the words of `labels`, in its order.
 */
export function changedFields(current: Readonly<Record<string, unknown>>, change: Readonly<Record<string, unknown>>,
  labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).filter(([field]) => change[field] !== undefined && change[field] !== current[field])
    .map(([, label]) => label);
}
