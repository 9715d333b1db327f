/**
 * A small JSON Schema (2020-12) checker covering exactly the keywords docs/fleet.schema.json uses,
 * so the schema test needs no new dependency (ajv would be the choice if the schema grew). It throws
 * on any keyword it does not know, so the schema cannot silently outgrow it.
 */
type Schema = boolean | { [k: string]: unknown };

const KNOWN = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  'default',
  '$defs',
  '$ref',
  'type',
  'enum',
  'properties',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'anyOf',
  'oneOf',
  'required',
  'minItems',
  'not',
  'pattern',
  'maxLength',
  'minLength',
  'minimum',
  'maximum',
  'maxItems',
  'uniqueItems',
  'items',
]);

/** Validation errors of `value` against `schema` ([] when valid), as "path: what". */
export function validate(schema: Schema, value: unknown, root: Schema = schema, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: not allowed`];
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`minischema: unsupported keyword ${k}`);
  const errs: string[] = [];
  const s = schema as Record<string, any>;
  if (s.$ref) {
    const m = /^#\/\$defs\/(.+)$/.exec(s.$ref as string);
    if (!m) throw new Error(`minischema: unsupported $ref ${s.$ref}`);
    errs.push(...validate((root as any).$defs[m[1]!], value, root, path));
  }
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeOk(t, value))) return [...errs, `${path}: expected ${types.join('|')}`];
  }
  if (s.enum && !s.enum.some((e: unknown) => e === value)) errs.push(`${path}: not one of ${s.enum.join(', ')}`);
  if (typeof value === 'string') {
    if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) errs.push(`${path}: does not match ${s.pattern}`);
    if (s.maxLength !== undefined && [...value].length > s.maxLength) errs.push(`${path}: too long`);
    if (s.minLength !== undefined && [...value].length < s.minLength) errs.push(`${path}: too short`);
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) errs.push(`${path}: below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) errs.push(`${path}: above ${s.maximum}`);
  }
  if (Array.isArray(value)) {
    if (s.maxItems !== undefined && value.length > s.maxItems) errs.push(`${path}: too many items`);
    if (s.minItems !== undefined && value.length < s.minItems) errs.push(`${path}: too few items`);
    if (s.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
      errs.push(`${path}: items not unique`);
    if (s.items !== undefined)
      value.forEach((v, i) => {
        errs.push(...validate(s.items, v, root, `${path}[${i}]`));
      });
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const props: Record<string, Schema> = s.properties ?? {};
    for (const [k, v] of Object.entries(value)) {
      if (s.propertyNames) errs.push(...validate(s.propertyNames, k, root, `${path}.${k}(name)`));
      const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>).filter(([re]) =>
        new RegExp(re, 'u').test(k),
      );
      for (const [, sub] of patterns) errs.push(...validate(sub, v, root, `${path}.${k}`));
      if (Object.hasOwn(props, k)) errs.push(...validate(props[k]!, v, root, `${path}.${k}`));
      else if (patterns.length) continue;
      else if (s.additionalProperties !== undefined)
        errs.push(...validate(s.additionalProperties, v, root, `${path}.${k}`));
    }
  }
  if (s.anyOf && !(s.anyOf as Schema[]).some((sub) => validate(sub, value, root, path).length === 0))
    errs.push(`${path}: matches none of anyOf`);
  if (s.oneOf && (s.oneOf as Schema[]).filter((sub) => validate(sub, value, root, path).length === 0).length !== 1)
    errs.push(`${path}: matches not exactly one of oneOf`);
  if (s.required && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const k of s.required as string[]) if (!Object.hasOwn(value, k)) errs.push(`${path}: lacks ${k}`);
  }
  if (s.not && validate(s.not, value, root, path).length === 0) errs.push(`${path}: matches a forbidden form`);
  return errs;
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      throw new Error(`minischema: unknown type ${t}`);
  }
}
