/**
 * The columns of the three listings, by fleetctl's field names (plus gitfleet's `drift`): what
 * `--fields a,b,c` may name, and what is shown without it. Kept apart from list.ts so the CLI's
 * help can name them without loading the listing code.
 */
export const LIST_FIELDS = {
  'list-machines': { all: ['machine', 'ip', 'metadata'], default: ['machine', 'ip', 'metadata'] },
  'list-units': {
    all: ['unit', 'machine', 'load', 'active', 'sub', 'hash', 'drift'],
    default: ['unit', 'machine', 'load', 'active', 'sub', 'hash', 'drift'],
  },
  'list-unit-files': {
    all: ['unit', 'hash', 'dstate', 'state', 'target', 'tmachine', 'desc', 'global'],
    default: ['unit', 'hash', 'dstate', 'state', 'target'],
  },
} as const;

export type ListName = keyof typeof LIST_FIELDS;

/** `--fields` as given -> the columns, in the order given; throws with fleetctl's complaint on a bad one. */
export function chooseFields(list: ListName, raw: string | undefined): string[] {
  const known: readonly string[] = LIST_FIELDS[list].all;
  if (raw === undefined) return [...LIST_FIELDS[list].default];
  const fields = raw
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (fields.length === 0) throw new Error(`--fields: no fields given; valid fields are ${known.join(',')}`);
  for (const f of fields)
    if (!known.includes(f))
      throw new Error(`--fields: invalid key in output list: "${f}"; valid fields are ${known.join(',')}`);
  return fields;
}
